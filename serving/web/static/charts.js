// Plotly helpers shared by the pages: one look (colours with good contrast, no plotly logo, responsive).
"use strict";

const Charts = (() => {
  const PALETTE = ["#1f5fbf", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0f766e", "#a16207", "#be185d"];
  const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  const LAYOUT = {
    margin: { l: 64, r: 16, t: 36, b: 56 },
    font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 13, color: "#1f2328" },
    legend: { orientation: "v", x: 1.02, y: 1, font: { size: 12 } },
    hovermode: "x unified",
    paper_bgcolor: "#ffffff",
    plot_bgcolor: "#ffffff",
    xaxis: { gridcolor: "#e5e7eb" },
    yaxis: { gridcolor: "#e5e7eb" },
  };

  function rgba(hex, a) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
  }

  function draw(div, traces, layout = {}) {
    div.hidden = false;
    if (!window.Plotly) {
      div.textContent = "Charts are unavailable: plotly.min.js did not load.";
      return;
    }
    const merged = { ...LAYOUT, ...layout, xaxis: { ...LAYOUT.xaxis, ...(layout.xaxis || {}) },
      yaxis: { ...LAYOUT.yaxis, ...(layout.yaxis || {}) } };
    const narrow = narrowLayout(div, traces);
    if (narrow.legend && merged.title) {  // a centred long title was cut at both ends on a phone
      merged.title = { ...merged.title, x: 0.01, xanchor: "left", font: { ...(merged.title.font || {}), size: 12 } };
    }
    Object.assign(merged, narrow);
    window.Plotly.react(div, traces, merged, CONFIG);
  }

  // On a phone a legend beside the chart squeezed the plot to ~50 px: below a 640 px wide chart the legend
  // goes under the plot and the chart grows by its rows, so the plot itself keeps ~300 px.
  function narrowLayout(div, traces) {
    const width = div.clientWidth || (div.parentElement && div.parentElement.clientWidth) || window.innerWidth;
    if (width >= 640) return {};
    const shown = traces.filter((t) => t.showlegend !== false && t.name).length;
    const rows = Math.ceil(shown / 2);
    const plot = 300;  // px of the plot itself; the legend starts 75 px under it, below ticks and axis title
    return {
      legend: { orientation: "h", x: 0, xanchor: "left", y: -75 / plot, yanchor: "top", font: { size: 11 } },
      margin: { l: 52, r: 8, t: 40, b: 80 + 22 * rows },
      height: plot + 40 + 80 + 22 * rows,
    };
  }
  // crossing the 640 px line (rotating a phone, resizing a window) redraws the charts with the other legend
  let wasNarrow = window.innerWidth < 700;
  window.addEventListener("resize", () => {
    const narrow = window.innerWidth < 700;
    if (narrow === wasNarrow || !window.Plotly) return;
    wasNarrow = narrow;
    for (const d of document.querySelectorAll(".js-plotly-plot")) {
      const { legend, margin, height } = { legend: LAYOUT.legend, margin: LAYOUT.margin, height: null, ...narrowLayout(d, d.data || []) };
      window.Plotly.relayout(d, { legend, margin, height });
    }
  });

  // series: [{name, history:[{ds,y}], forecast:[{ds,q10,q50,q90,q05?,q95?}]}]
  function fan(div, series, title) {
    const traces = [];
    series.forEach((s, i) => {
      const c = PALETTE[i % PALETTE.length];
      const f = s.forecast;
      if (f.length && f[0].q05 !== undefined && f[0].q95 !== undefined) {
        traces.push({ x: f.map((r) => r.ds), y: f.map((r) => r.q95), mode: "lines", line: { width: 0 },
          showlegend: false, hoverinfo: "skip", legendgroup: s.name });
        traces.push({ x: f.map((r) => r.ds), y: f.map((r) => r.q05), mode: "lines", line: { width: 0 },
          fill: "tonexty", fillcolor: rgba(c, 0.1), name: `${s.name} P5–P95`, hoverinfo: "skip", legendgroup: s.name });
      }
      traces.push({ x: f.map((r) => r.ds), y: f.map((r) => r.q90), mode: "lines", line: { width: 0 },
        showlegend: false, name: `${s.name} P90`, legendgroup: s.name });
      traces.push({ x: f.map((r) => r.ds), y: f.map((r) => r.q10), mode: "lines", line: { width: 0 },
        fill: "tonexty", fillcolor: rgba(c, 0.25), name: `${s.name} P10–P90`, legendgroup: s.name });
      // with fewer than 3 periods a band is too thin to see: add P10–P90 whiskers to the median points
      const few = f.length < 3;
      traces.push({ x: f.map((r) => r.ds), y: f.map((r) => r.q50), mode: few ? "lines+markers" : "lines",
        name: `${s.name} forecast (median)`, line: { color: c, width: 2, dash: "dash" }, marker: { size: 8 },
        legendgroup: s.name, error_y: few ? { type: "data", symmetric: false, color: c,
          array: f.map((r) => r.q90 - r.q50), arrayminus: f.map((r) => r.q50 - r.q10) } : undefined });
      traces.push({ x: s.history.map((r) => r.ds), y: s.history.map((r) => r.y), mode: "lines+markers",
        name: `${s.name} actual`, line: { color: c, width: 2 }, marker: { size: 4 }, legendgroup: s.name });
    });
    draw(div, traces, { title: { text: title, font: { size: 15 } }, yaxis: { title: { text: "units" } },
      xaxis: { range: window_(series) } });
  }

  // Years of history drew the forecast as a sliver at the right edge: open on the last stretch of history
  // (twice the forecast's length, at least 8 periods) and the forecast; zooming out still shows it all.
  function window_(series) {
    const hist = [...new Set(series.flatMap((s) => s.history.map((r) => r.ds)))].sort();
    const fc = [...new Set(series.flatMap((s) => s.forecast.map((r) => r.ds)))].sort();
    if (!hist.length || !fc.length) return undefined;
    const keep = Math.max(8, 2 * fc.length);
    if (hist.length <= keep) return undefined;
    const start = hist[hist.length - keep];
    const end = new Date(`${fc[fc.length - 1]}T00:00:00Z`);
    const pad = fc.length > 1 ? (end - new Date(`${fc[fc.length - 2]}T00:00:00Z`)) / 3 : 86400000 * 7;
    return [start, new Date(end.getTime() + pad).toISOString().slice(0, 10)];
  }

  function lines(div, series, { title, xTitle, yTitle, markers } = {}) {
    const traces = series.map((s, i) => ({
      x: s.x, y: s.y, name: s.name, mode: s.mode || "lines",
      line: { color: s.color || PALETTE[i % PALETTE.length], width: 2, dash: s.dash },
      marker: { size: 9 }, showlegend: s.showlegend !== false, legendgroup: s.group,
    }));
    for (const m of markers || []) traces.push(m);
    draw(div, traces, { title: { text: title || "", font: { size: 15 } }, hovermode: "closest",
      xaxis: { title: { text: xTitle || "" } }, yaxis: { title: { text: yTitle || "" } } });
  }

  function bars(div, categories, groups, { title, yTitle, barmode } = {}) {
    const traces = groups.map((g, i) => ({ type: "bar", name: g.name, x: categories, y: g.y,
      marker: { color: g.color || PALETTE[i % PALETTE.length] } }));
    draw(div, traces, { title: { text: title || "", font: { size: 15 } }, barmode: barmode || "group",
      hovermode: "closest", yaxis: { title: { text: yTitle || "" } } });
  }

  return { fan, lines, bars, draw, PALETTE };
})();
window.Charts = Charts;
