// tokensim report: hover a chart to read its values, click a legend entry
// to hide or show its series. Reads the numbers in #report-data; no network.
(function () {
  const D = JSON.parse(document.getElementById('report-data').textContent);
  const M = {};
  for (const m of D.metrics) M[m.name] = m;
  const tip = document.createElement('div');
  tip.className = 'tip';
  tip.hidden = true;
  document.body.appendChild(tip);
  // The page's number format (format.rs short_number): 4 significant
  // digits, SI suffixes from 10^4.
  function si(v) {
    if (v === null || !isFinite(v)) return String(v);
    const a = Math.abs(v);
    const [d, s] = a >= 1e9 ? [1e9, ' G'] : a >= 1e6 ? [1e6, ' M'] : a >= 1e4 ? [1e3, ' k'] : [1, ''];
    return String(+(v / d).toPrecision(4)) + s;
  }
  function lines(c) {
    const m = M[c.dataset.metric];
    if (!m) return null;
    if (c.dataset.chart === 'trajectory')
      return m.series.map(s => ({ key: s.group, x: s.ticks, y: s.median, lo: s.p5, hi: s.p95 }));
    const all = c.dataset.chart === 'delta' ? m.delta : m.by_parameter;
    const f = +c.dataset.facet;
    return (all || []).filter(s => s.facet === f).map(s => ({ key: s.key, x: s.x, y: s.median, lo: s.p5, hi: s.p95 }));
  }
  function xText(c, x) {
    if (c.dataset.chart === 'trajectory') return 'tick ' + x;
    const L = D.layout;
    if (!L.x_param) return 'difference to ' + L.variants[0] + ', paired by replicate';
    const v = L.x_labels ? L.x_labels[Math.round(x)] : si(x);
    return L.x_param ? L.x_param + ' = ' + v : v;
  }
  for (const c of document.querySelectorAll('[data-chart]')) {
    const svg = c.querySelector('svg.chart');
    const plot = svg && svg.querySelector('g.plot');
    const data = plot && lines(c);
    if (!data) continue;
    const [x0, x1, p0, p1] = ['x0', 'x1', 'px0', 'px1'].map(k => +plot.dataset[k]);
    svg.addEventListener('mousemove', e => {
      const pt = new DOMPoint(e.clientX, e.clientY).matrixTransform(svg.getScreenCTM().inverse());
      const x = x0 + ((pt.x - p0) / (p1 - p0)) * (x1 - x0);
      let best = null;
      const rows = [];
      for (const g of c.querySelectorAll('g.series')) {
        if (g.classList.contains('off')) continue;
        const s = data.find(d => d.key === g.dataset.key);
        if (!s || !s.x.length) continue;
        let i = 0;
        for (let j = 1; j < s.x.length; j++) if (Math.abs(s.x[j] - x) < Math.abs(s.x[i] - x)) i = j;
        if (best === null || Math.abs(s.x[i] - x) < Math.abs(best - x)) best = s.x[i];
        rows.push([s.x[i], g.dataset.label + ': ' + si(s.y[i]) + '  (' + si(s.lo[i]) + ' – ' + si(s.hi[i]) + ')']);
      }
      if (best === null) { tip.hidden = true; return; }
      tip.textContent = [xText(c, best)].concat(rows.filter(r => r[0] === best).map(r => r[1])).join('\n');
      tip.hidden = false;
      tip.style.left = (e.clientX + 14) + 'px';
      tip.style.top = (e.clientY + 14) + 'px';
    });
    svg.addEventListener('mouseleave', () => { tip.hidden = true; });
    for (const li of c.querySelectorAll('ul.legend li[data-key]')) {
      li.addEventListener('click', () => {
        const off = li.classList.toggle('off');
        for (const g of c.querySelectorAll('g.series'))
          if (g.dataset.key === li.dataset.key) g.classList.toggle('off', off);
      });
    }
  }
})();
