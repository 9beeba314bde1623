import vue from "@vitejs/plugin-vue";
import { defineConfig } from "vite";

// The build lands inside the Python package, so that `pip install` carries it and the API
// serves it at / from the same origin. `npm run dev` proxies the API from a hub on port 8000.
const API = [
  "/alerts", "/auth", "/clues", "/records", "/events", "/evidence", "/stream", "/config",
  "/healthz", "/metrics", "/docs", "/openapi.json",
];

export default defineConfig({
  plugins: [vue()],
  build: {
    outDir: "../api/web_dist", // relative to web/
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
  server: {
    proxy: Object.fromEntries(API.map((path) => [path, "http://127.0.0.1:8000"])),
  },
});
