import 'element-plus/dist/index.css';
import './styles.css';
import { createApp } from 'vue';
import App from './App.vue';
import { setSessionLostHandler } from './api/http.ts';
import { currentLocale, i18n } from './i18n/index.ts';
import { router } from './router.ts';
import { disconnectLive } from './store/live.ts';

setSessionLostHandler(() => {
  disconnectLive();
  void router.push({ name: 'login', query: { expired: '1' } });
});

document.documentElement.lang = currentLocale();
createApp(App).use(i18n).use(router).mount('#app');
