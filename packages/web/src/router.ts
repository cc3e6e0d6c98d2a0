import { createRouter, createWebHashHistory } from 'vue-router';
import { isLoggedIn } from './api/auth-tokens.ts';
import { api } from './api/http.ts';

/**
 * Hash history: the server only has to serve index.html at `/`, and deep links still work.
 * Every page is a lazy chunk.
 */
export const router = createRouter({
  history: createWebHashHistory(),
  routes: [
    { path: '/setup', name: 'setup', component: () => import('./views/SetupView.vue'), meta: { public: true } },
    { path: '/login', name: 'login', component: () => import('./views/LoginView.vue'), meta: { public: true } },
    {
      path: '/',
      component: () => import('./layouts/AppShell.vue'),
      children: [
        { path: '', redirect: '/printers' },
        { path: 'printers', name: 'printers', component: () => import('./views/PrintersView.vue') },
        { path: 'printers/:id', name: 'printer', component: () => import('./views/PrinterDetailView.vue'), props: true },
        { path: 'library', name: 'library', component: () => import('./views/LibraryView.vue') },
        { path: 'queue', name: 'queue', component: () => import('./views/QueueView.vue') },
        { path: 'alerts', name: 'alerts', component: () => import('./views/AlertsView.vue') },
        { path: 'history', name: 'history', component: () => import('./views/HistoryView.vue') },
        { path: 'robot', name: 'robot', component: () => import('./views/RobotView.vue') },
        { path: 'plugins', name: 'plugins', component: () => import('./views/PluginsView.vue') },
        { path: 'ai', name: 'ai-history', component: () => import('./views/AiHistoryView.vue') },
        { path: 'settings', name: 'settings', component: () => import('./views/SettingsView.vue') },
      ],
    },
    { path: '/kiosk/:id?', name: 'kiosk', component: () => import('./views/KioskView.vue'), props: true },
    { path: '/:rest(.*)*', redirect: '/printers' },
  ],
});

let setupChecked = false;

router.beforeEach(async (to) => {
  if (!setupChecked) {
    try {
      const { needed } = await api<{ needed: boolean }>('/setup', { anonymous: true });
      setupChecked = !needed;
      if (needed) return to.name === 'setup' ? true : { name: 'setup' };
    } catch {
      // server unreachable: fall through to login, which shows the error when submitting
    }
  }
  if (to.name === 'setup' && setupChecked) return { name: isLoggedIn() ? 'printers' : 'login' };
  if (!to.meta.public && !isLoggedIn()) return { name: 'login', query: { next: to.fullPath } };
  if (to.name === 'login' && isLoggedIn()) return { name: 'printers' };
  return true;
});

/** After the first admin exists the setup page is never needed again. */
export function markSetupDone(): void {
  setupChecked = true;
}
