/** `swiftlet deploy` as a real child process, resolved once it prints the URL it serves on. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { cliCommand } from './cli-command.js';
import { repoRoot } from './paths.js';

export interface Deployed {
  child: ChildProcess;
  url: string;
  /** Its stderr lines so far, for failure messages. */
  log: string[];
}

export async function deploy(args: string[]): Promise<Deployed> {
  const child = spawn(process.execPath, [...cliCommand(), 'deploy', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  const lines = createInterface({ input: child.stderr as NodeJS.ReadableStream });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "serving" line in time:\n${log.join('\n')}`)), 30_000);
    lines.on('line', (line) => {
      log.push(line);
      const match = / on (http:\/\/\S+) \(OpenAI API/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`deploy exited with ${code}:\n${log.join('\n')}`));
    });
  });
  return { child, url, log };
}

/** Ends a deploy a test started, if it is still running. */
export function killDeployed({ child }: Deployed): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
