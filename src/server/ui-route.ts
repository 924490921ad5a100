/**
 * The web chat page: the files of `ui/` served as they are (no build step), `index.html` at `/`,
 * and the page's two libraries (marked, DOMPurify) from node_modules under `/vendor/`, so it
 * needs no CDN and works offline. One exact route per file, listed once at start-up, so the
 * router's exact-path table needs no pattern and no other path can be asked for. Files are read
 * per request, so the page can be edited while a server runs. The page talks to `/v1/*` on the
 * same origin.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Route, RouteTable } from './routes.js';
import { packageRoot } from '../package-root.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

/**
 * NOTE: the page sanitises model output (DOMPurify) before it joins the page; this policy makes any slip harmless
 * (no inline or foreign script) and keeps the page from talking to anything but its server.
 */
const PAGE_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

/** The page's import path of each library -> its npm package (whose ES module entry is served). */
const VENDOR_MODULES: Record<string, string> = {
  '/vendor/marked.js': 'marked',
  '/vendor/dompurify.js': 'dompurify',
};

/** `ui/` of the repository (or installed package). */
export function findUiDir(): string {
  return join(packageRoot(), 'ui');
}

/** The servable files under `dir`, recursively (dot files left out). */
function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name.startsWith('.')) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return listFiles(path);
    return entry.isFile() && CONTENT_TYPES[extname(entry.name)] !== undefined ? [path] : [];
  });
}

function fileRoute(file: string): Route {
  const contentType = CONTENT_TYPES[extname(file)] as string;
  return {
    method: 'GET',
    isGuarded: false,
    handle: async ({ req, res }) => {
      const body = await readFile(file);
      res.writeHead(200, { ...PAGE_HEADERS, 'Content-Type': contentType, 'Content-Length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
  };
}

/** The page's routes: `/` and `/index.html` for the page, `/<path>` for every other file of `uiDir`, `/vendor/*` for its libraries. */
export function buildUiRoutes(uiDir: string): Map<string, Route[]> {
  if (!existsSync(join(uiDir, 'index.html'))) throw new Error(`the web chat page is missing: no index.html in ${uiDir}`);
  const routes = new Map<string, Route[]>();
  for (const file of listFiles(uiDir)) {
    const path = '/' + relative(uiDir, file).split(sep).join('/');
    routes.set(path, [fileRoute(file)]);
  }
  routes.set('/', routes.get('/index.html') as Route[]);
  for (const [path, module] of Object.entries(VENDOR_MODULES)) routes.set(path, [fileRoute(fileURLToPath(import.meta.resolve(module)))]);
  return routes;
}

/** `routes` plus the page's; an API route keeps its path should a file of `ui/` share it. */
export function withUiRoutes(routes: RouteTable, uiDir: string | undefined): RouteTable {
  if (uiDir === undefined) return routes;
  return new Map([...buildUiRoutes(uiDir), ...routes]);
}
