// The dashboard's build. neutracer-server serves the output with a Content-Security-Policy that
// forbids inline scripts and styles, so nothing may be inlined: no module-preload polyfill (an
// inline-capable snippet), no assets turned into data: URLs beyond images.
import { defineConfig } from "vite";

export default defineConfig({
  // Relative asset URLs: the same files work behind a proxy that mounts the server under a path.
  base: "./",
  build: {
    target: "es2022",
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    emptyOutDir: true,
    reportCompressedSize: false,
  },
  // `npm run dev`: a development server whose API calls go to a running neutracer-server.
  server: {
    proxy: { "/api": process.env.NT_SERVER ?? "http://127.0.0.1:9470" },
  },
});
