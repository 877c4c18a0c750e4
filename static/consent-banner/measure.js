/* consent-gateway measure.js (README.md): custom events and outbound link clicks.
   Loaded by the page's inline script only once the visitor has granted analytics. */
(() => {
  'use strict';
  const W = window, D = document, tag = D.currentScript;
  if (W !== W.top) return; // a frame's page is counted by the page around it
  const collect = new URL(tag.src).pathname.replace(/measure\.js$/, 'collect');
  const granted = () => {
    const cg = W.consentGateway, on = cg && cg.get && cg.get();
    return !!(on && on.analytics);
  };
  // The beacon's bounds (gateway/analytics/beacon.py): within them, an event is never refused.
  const MAX_NAME = 120, MAX_PROPS = 20, MAX_KEY = 64, MAX_VALUE = 256;

  function props(given) {
    const out = {};
    let count = 0;
    if (!given || typeof given !== 'object') return out;
    for (const key of Object.keys(given)) {
      const value = given[key];
      if (count >= MAX_PROPS || !key || key.length > MAX_KEY) continue;
      if (typeof value !== 'string' && !(typeof value === 'number' && isFinite(value))) continue;
      out[key] = String(value).slice(0, MAX_VALUE);
      count += 1;
    }
    return out;
  }

  function track(name, given) {
    if (typeof name !== 'string' || !name || !granted()) return false;
    const event = { type: 'custom', path: location.pathname.slice(0, 2048),
      name: name.slice(0, MAX_NAME), props: props(given) };
    return navigator.sendBeacon(collect, JSON.stringify({ events: [event] }));
  }

  // Outbound links: a click (or a middle click) on a link to another host.
  function clicked(e) {
    if (e.type === 'auxclick' && e.button !== 1) return;
    const link = e.target.closest && e.target.closest('a[href]');
    if (!link) return;
    let url;
    try { url = new URL(link.href, location.href); } catch { return; }
    if (!/^https?:$/.test(url.protocol) || url.host === location.host) return;
    track('Outbound Link: Click', { url: (url.origin + url.pathname).slice(0, MAX_VALUE) });
  }
  if (tag.dataset.outbound !== '0') {
    D.addEventListener('click', clicked, true);
    D.addEventListener('auxclick', clicked, true);
  }

  const queued = Array.isArray(W.cgq) ? W.cgq : []; // not an array: dropped when refused
  W.cgq = { push: (args) => { track(args[0], args[1]); } };
  if (W.consentGateway) W.consentGateway.track = track;
  queued.forEach((args) => track(args[0], args[1]));
})();
