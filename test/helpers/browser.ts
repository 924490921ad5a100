/**
 * The headless Chromium the browser tests drive: the one `npm install` brings
 * (@sparticuz/chromium, a build shipped inside its npm tarball, unpacked to /tmp on first use),
 * so a machine with Node, npm and g++ alone runs them. A system Chromium is used instead when
 * SWIFTLET_CHROMIUM names one (it has the system's CJK and emoji fonts, which the packaged
 * build lacks: only screenshots differ).
 */
import { chromium, type Browser } from 'playwright-core';
import packagedChromium from '@sparticuz/chromium';

/** NOTE: without the background-networking flags Chromium keeps dialing Google, which a closed network refuses. */
const QUIET_ARGS = ['--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launchBrowser(): Promise<Browser> {
  const system = process.env['SWIFTLET_CHROMIUM'];
  if (system) return chromium.launch({ executablePath: system, headless: true, args: ['--disable-gpu', ...QUIET_ARGS] });
  const executablePath = await packagedChromium.executablePath();
  return chromium.launch({ executablePath, headless: true, args: [...packagedChromium.args, ...QUIET_ARGS] });
}
