// Client routes. None may share a first path segment with an API route (/alerts, /auth, /clues,
// ...): a reload of a client route reaches the hub, which answers index.html only for paths it
// does not serve itself. Each route names the roles it is offered to; the API still decides.
import { watch } from "vue";
import { createRouter, createWebHistory } from "vue-router";
import type { Role } from "./api";
import AlertWall from "./pages/AlertWall.vue";
import SignIn from "./pages/SignIn.vue";
import { home, session } from "./session";

declare module "vue-router" {
  interface RouteMeta {
    roles?: Role[];
  }
}

const EVERYONE: Role[] = ["admin", "operator", "department"];

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: "/", name: "wall", component: AlertWall, meta: { roles: ["admin", "operator"] } },
    {
      path: "/alert/:id(\\d+)",
      name: "alert",
      component: () => import("./pages/AlertDetail.vue"), // ECharts loads with the detail only
      props: (route) => ({ id: Number(route.params.id) }),
      meta: { roles: EVERYONE },
    },
    {
      path: "/overview",
      name: "overview",
      component: () => import("./pages/Overview.vue"),
      meta: { roles: ["admin", "operator"] },
    },
    {
      path: "/board",
      name: "board",
      component: () => import("./pages/ClueBoard.vue"),
      meta: { roles: ["admin", "department"] },
    },
    {
      path: "/sensor-wall",
      name: "sensors",
      component: () => import("./pages/SensorWall.vue"),
      meta: { roles: EVERYONE }, // a department sees its own sites' sensors (the API decides)
    },
    {
      path: "/camera-wall",
      name: "cameras",
      component: () => import("./pages/CameraWall.vue"),
      meta: { roles: ["admin", "operator"] },
    },
    {
      path: "/admin",
      name: "admin",
      component: () => import("./pages/AdminPage.vue"),
      meta: { roles: ["admin"] },
    },
    { path: "/login", name: "login", component: SignIn },
    { path: "/:rest(.*)*", redirect: "/" },
  ],
});

router.beforeEach((to) => {
  const roles = to.meta.roles;
  if (roles && !session.token) return { name: "login", query: { next: to.fullPath } };
  if (to.name === "login" && session.token) return home(session.role);
  if (roles && !roles.includes(session.role as Role)) {
    const start = home(session.role);
    return to.path === start ? { name: "login" } : start; // a role with no page here (edge) signs in again
  }
  return true;
});

// A session revoked or expired while a page is open leads back to sign-in.
watch(
  () => session.token,
  (token) => {
    if (!token && router.currentRoute.value.meta.roles) void router.push({ name: "login" });
  },
);
