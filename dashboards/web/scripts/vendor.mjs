// Copies the front-end libraries the dashboard uses from node_modules into vendor/, where the
// Rust build compiles them into the binary (dashboards/src/web.rs). vendor/ is committed, so a
// Rust-only build needs neither Node.js nor npm; run `npm ci && npm run vendor` after changing a
// version in package.json, and commit vendor/.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const files = [
  ['leaflet/dist/leaflet.js', 'leaflet/leaflet.js'],
  ['leaflet/dist/leaflet.css', 'leaflet/leaflet.css'],
  ['leaflet/LICENSE', 'leaflet/LICENSE'],
];
for (const [from, to] of files) {
  const target = join(root, 'vendor', to);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(join(root, 'node_modules', from), target);
  console.log(`vendor/${to}`);
}
