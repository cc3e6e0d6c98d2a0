import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

// The dev server proxies the API (and its WebSocket) to a locally running `npm start` server.
const apiTarget = process.env.RWC_API_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [vue()],
  // Relative asset paths: the server serves dist/ at `/`, and this also works under a sub-path.
  base: './',
  server: {
    proxy: {
      '/api': { target: apiTarget, changeOrigin: true, ws: true },
      // The robot console's Socket.IO (namespace /robot) on the same server.
      '/socket.io': { target: apiTarget, changeOrigin: true, ws: true },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    rolldownOptions: {
      output: {
        // Keep the big libraries in their own cacheable chunks; routes are lazy-loaded on top.
        codeSplitting: {
          groups: [
            // ECharts and its renderer (zrender) together pass 500 kB: two chunks, both loaded only by the printer page.
            { name: 'echarts', test: /node_modules[\\/]echarts[\\/]/, priority: 30 },
            { name: 'zrender', test: /node_modules[\\/]zrender[\\/]/, priority: 40 },
            { name: 'element-plus', test: /node_modules[\\/](element-plus|@element-plus|@floating-ui|@popperjs)[\\/]/, priority: 20 },
            { name: 'vue', test: /node_modules[\\/](@vue|vue|vue-router|vue-i18n|@intlify)[\\/]/, priority: 10 },
          ],
        },
      },
    },
  },
});
