// Noto Sans SC (OFL-1.1) in unicode-range slices: a page fetches only the slices of the glyphs it
// shows, from the hub itself, so Chinese renders on machines without a CJK font.
import "@fontsource/noto-sans-sc/400.css";
import ElementPlus from "element-plus";
import zhCn from "element-plus/es/locale/lang/zh-cn";
import "element-plus/dist/index.css";
import { createApp } from "vue";
import App from "./App.vue";
import { router } from "./router";

createApp(App).use(ElementPlus, { locale: zhCn }).use(router).mount("#app");
