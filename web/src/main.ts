// Noto Sans SC (OFL-1.1) in unicode-range slices: a page fetches only the slices of the glyphs it
// shows, from the hub itself, so Chinese renders on machines without a CJK font.
import "@fontsource/noto-sans-sc/400.css";
import ElementPlus from "element-plus";
import "element-plus/dist/index.css";
import { createApp } from "vue";
import App from "./App.vue";
import { router } from "./router";

// The language of Element Plus's own words is set by App.vue's config provider.
createApp(App).use(ElementPlus).use(router).mount("#app");
