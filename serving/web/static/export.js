// Downloads of a stored proposal's rows (CSV or Excel) through GET /api/v1/targets/proposals/{id}:export,
// for the buttons marked data-proposal-export on the Targets page (the proposal shown is #prop-section's).
"use strict";

(() => {
  async function download(path, fallback) {
    const res = await fetch(path, { headers: { "X-API-Key": SP.apiKey() || "" } });
    if (!res.ok) throw new SP.Problem(await res.json().catch(() => ({ title: `HTTP ${res.status}` })), res.status);
    const name = (res.headers.get("content-disposition") || "").match(/filename="([^"]+)"/);
    const filename = name ? name[1] : fallback;
    const url = URL.createObjectURL(await res.blob());
    const a = SP.el("a", { href: url, download: filename });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    SP.toast(`downloaded ${filename}`);
  }

  document.addEventListener("click", (e) => {
    const button = e.target.closest("[data-proposal-export]");
    const id = document.getElementById("prop-section")?.dataset.proposalId;
    if (!button || !id) return;
    const format = button.dataset.proposalExport;
    download(`/api/v1/targets/proposals/${encodeURIComponent(id)}:export?format=${format}`, `proposal_${id.slice(0, 8)}.${format}`)
      .catch((err) => SP.showProblem(document.getElementById("prop-error"), err));
  });
})();
