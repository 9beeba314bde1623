import vue from "@vitejs/plugin-vue";
import { defineConfig, type Plugin } from "vite";

// Fontsource's CSS names a WOFF fallback beside each WOFF2 slice; every browser the dashboard
// supports reads WOFF2, so the build carries only those (3.7 MB of Noto Sans SC instead of 9).
function woff2Only(): Plugin {
  return {
    name: "offsite-woff2-only",
    enforce: "pre",
    transform(code, id) {
      if (!/@fontsource\/.+\.css$/.test(id)) return null;
      return code.replace(/,\s*url\([^)]+\.woff\)\s*format\('woff'\)/g, "");
    },
  };
}

// The build lands inside the Python package, so that `pip install` carries it and the API
// serves it at / from the same origin. `npm run dev` proxies the API from a hub on port 8000.
const API = [
  "/alerts", "/auth", "/catalogue", "/clues", "/records", "/events", "/evidence", "/stream", "/config",
  "/healthz", "/metrics", "/docs", "/openapi.json",
];

export default defineConfig({
  plugins: [vue(), woff2Only()],
  build: {
    outDir: "../api/web_dist", // relative to web/
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
  server: {
    proxy: Object.fromEntries(API.map((path) => [path, "http://127.0.0.1:8000"])),
  },
});
