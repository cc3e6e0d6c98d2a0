/** Texts of the security part (issue 15): accounts, API key makers. */
export default {
  en: {
    security: {
      keyMadeBy: 'made by {name}',
    },
  },
  'zh-CN': {
    security: {
      keyMadeBy: '由 {name} 创建',
    },
  },
};
