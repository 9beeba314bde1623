// Client routes. None may share a first path segment with an API route (/alerts, /auth, ...):
// a reload of a client route reaches the hub, which answers index.html only for paths it does
// not serve itself.
import { watch } from "vue";
import { createRouter, createWebHistory } from "vue-router";
import AlertWall from "./pages/AlertWall.vue";
import SignIn from "./pages/SignIn.vue";
import { session } from "./session";

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: "/", name: "wall", component: AlertWall, meta: { signedIn: true } },
    { path: "/login", name: "login", component: SignIn },
    { path: "/:rest(.*)*", redirect: "/" },
  ],
});

router.beforeEach((to) => {
  if (to.meta.signedIn && !session.token) return { name: "login", query: { next: to.fullPath } };
  if (to.name === "login" && session.token) return { name: "wall" };
  return true;
});

// A session revoked or expired while a page is open leads back to sign-in.
watch(
  () => session.token,
  (token) => {
    if (!token && router.currentRoute.value.meta.signedIn) void router.push({ name: "login" });
  },
);
