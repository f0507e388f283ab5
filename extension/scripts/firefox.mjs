// Writes build/firefox/: the same files as the Chrome build, with Firefox's manifest. Firefox
// runs no extension service worker: the worker's code runs as background scripts after the
// libraries it would import (service_worker.js imports them itself only where importScripts
// exists), and Firefox wants an add-on id.
import { cpSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;
const OUT = join(ROOT, "build", "firefox");
const NOT_SHIPPED = new Set(["build", "dist", "node_modules", "scripts", "test", "package.json", "package-lock.json",
  "README.md"]);

const manifest = JSON.parse(readFileSync(join(ROOT, "manifest.json"), "utf8"));
const worker = readFileSync(join(ROOT, manifest.background.service_worker), "utf8");
const libraries = /importScripts\(([^)]*)\)/.exec(worker)[1].match(/"[^"]+"/g).map((name) => JSON.parse(name));
manifest.background = { scripts: [...libraries, manifest.background.service_worker] };
manifest.browser_specific_settings = {
  gecko: {
    id: "shoplens@shoplens.dev",
    strict_min_version: "140.0",
    // the pictures of the pages it is on go to the ShopLens API the user set up; a label correction,
    // only once the shopper agreed, also sends the page's URL
    data_collection_permissions: { required: ["websiteContent"], optional: ["browsingActivity"] },
  },
  gecko_android: { strict_min_version: "142.0" },
};

rmSync(OUT, { recursive: true, force: true });
for (const name of readdirSync(ROOT).filter((entry) => !NOT_SHIPPED.has(entry) && !entry.startsWith("."))) {
  cpSync(join(ROOT, name), join(OUT, name), { recursive: true });
}
writeFileSync(join(OUT, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`${OUT}: background scripts ${manifest.background.scripts.join(", ")}`);
