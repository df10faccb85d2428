// build-browser.mjs: bundle the browser page's script (www/page.mjs, with
// @connectrpc/connect-web and the generated readstates_pb.js) into
// www/bundle.js with esbuild. Run by node-test.sh setup in the work dir.
import { build } from "esbuild";

const r = await build({
  entryPoints: ["www/page.mjs"],
  outfile: "www/bundle.js",
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["chrome120"],
  sourcemap: "inline",
  logLevel: "warning",
});
if (r.errors.length) process.exit(1);
console.log("build-browser: www/bundle.js");
