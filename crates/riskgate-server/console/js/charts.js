// Thin wrapper over the vendored Apache ECharts (window.echarts, vendor/echarts.min.js).
import { h } from './ui.js';

const live = new Set();

export function chart(option, { height = 300, onClick, testid } = {}) {
  const el = h('div', { class: 'chart', style: `height:${height}px`, 'data-testid': testid });
  // Render once the element is in the document (ECharts needs its size).
  requestAnimationFrame(() => {
    if (!window.echarts || !el.isConnected) return;
    const c = window.echarts.init(el, null, { renderer: 'canvas' });
    c.setOption({ animation: false, textStyle: { fontFamily: getComputedStyle(document.body).fontFamily }, ...option });
    if (onClick) c.on('click', onClick);
    live.add(c);
    el.dataset.ready = '1';
  });
  return el;
}

window.addEventListener('resize', () => {
  for (const c of live) {
    if (c.isDisposed() || !c.getDom().isConnected) {
      if (!c.isDisposed()) c.dispose();
      live.delete(c);
    } else c.resize();
  }
});
