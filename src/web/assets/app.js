// 痕迹 web desk: the little script the pages need (live inbox, uploads with progress, the
// handwriting pad, confirmations). No framework; loaded with `defer` from this server only.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

// Confirmation for buttons that cannot be undone (data-confirm="…").
document.addEventListener("submit", (e) => {
  const button = e.submitter;
  const message = button?.dataset.confirm || e.target.dataset.confirm;
  if (message && !window.confirm(message)) e.preventDefault();
});

// Live inbox: new tasks arrive over the event stream (server-sent events) and the rows are
// fetched again; the count in the menu follows on every page, and a document page follows the
// reading of its attachments.
(function liveInbox() {
  const count = document.getElementById("todo-count");
  if (!count || !window.EventSource) return;
  const rows = document.getElementById("inbox-rows");
  const live = document.getElementById("inbox")?.dataset.live === "true";
  const source = new EventSource("/events");
  const refresh = async () => {
    const r = await fetch("/inbox/rows", { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!r.ok) return;
    const n = r.headers.get("X-Todo-Count");
    count.textContent = n && n !== "0" ? n : "";
    if (live && rows) {
      const before = new Set([...rows.querySelectorAll("tr[data-document]")].map((tr) => tr.dataset.document));
      rows.innerHTML = await r.text();
      rows.querySelectorAll("tr[data-document]").forEach((tr) => {
        if (!before.has(tr.dataset.document)) tr.classList.add("new");
      });
    }
  };
  source.addEventListener("task", refresh);
  source.addEventListener("resync", refresh);
  // 文字识别 on a document page: how far the reading of an attachment is, as it goes.
  source.addEventListener("extraction", (e) => {
    const n = JSON.parse(e.data);
    const line = document.querySelector(`.text-status[data-sha256="${CSS.escape(n.sha256)}"]`);
    if (!line || line.dataset.status === "done") return;
    const label = line.querySelector(".text-label");
    line.dataset.status = n.status;
    if (n.status === "running") {
      label.textContent = n.pages ? `识别中 ${n.pages_done}/${n.pages} 页` : "识别中";
    } else if (n.status === "queued") {
      label.textContent = "稍后重试";
    } else if (n.status === "failed") {
      label.textContent = "失败（刷新页面查看原因）";
    } else if (n.status === "done") {
      label.textContent = `已完成（${n.pages} 页）`;
      const link = document.createElement("a");
      link.href = `/files/${encodeURIComponent(line.dataset.document)}/${encodeURIComponent(n.sha256)}/text`;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = "查看文字";
      line.append(" · ", link);
    }
  });
  // A browser allows six connections to a server; a stream left open by each page passed
  // through would soon take them all.
  window.addEventListener("pagehide", () => source.close());
})();

// Registration: files by drag-and-drop or picker, each with a thumbnail and a progress bar,
// all sent in one streamed request; a refusal names the field it is about.
(function register() {
  const form = document.getElementById("register-form");
  if (!form) return;
  const picker = form.querySelector('input[type="file"]');
  const zone = document.getElementById("dropzone");
  const list = document.getElementById("upload-list");
  const files = [];
  const add = (chosen) => {
    for (const file of chosen) {
      const li = document.createElement("li");
      let thumb;
      if (file.type.startsWith("image/") && file.type !== "image/tiff") {
        thumb = document.createElement("img");
        thumb.src = URL.createObjectURL(file);
        thumb.alt = "";
      } else {
        thumb = document.createElement("span");
        thumb.className = "icon";
        thumb.textContent = file.type === "application/pdf" ? "PDF" : (file.name.split(".").pop() || "").toUpperCase();
      }
      const info = document.createElement("div");
      const name = document.createElement("div");
      name.textContent = `${file.name}（${(file.size / 1048576).toFixed(1)} MB）`;
      const bar = document.createElement("progress");
      bar.max = 100;
      bar.value = 0;
      info.append(name, bar);
      li.append(thumb, info);
      list.append(li);
      files.push({ file, bar });
    }
  };
  picker.addEventListener("change", () => {
    add(picker.files);
    picker.value = "";
  });
  ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.remove("over"); }));
  zone.addEventListener("drop", (e) => add(e.dataTransfer.files));

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    form.querySelectorAll(".field-error").forEach((el) => (el.textContent = ""));
    const status = document.getElementById("register-status");
    const data = new FormData(form);
    data.delete("attachment");
    for (const f of files) data.append("attachment", f.file, f.file.name);
    // The files go last, in order: what has been sent tells how far each one is.
    const sizes = files.map((f) => f.file.size);
    const total = sizes.reduce((a, b) => a + b, 0);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-CSRF-Token", csrf());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (p) => {
      if (!p.lengthComputable) return;
      let sent = Math.max(0, p.loaded - (p.total - total));
      files.forEach((f, i) => {
        const done = Math.min(sizes[i], sent);
        f.bar.value = sizes[i] ? (100 * done) / sizes[i] : 100;
        sent -= done;
      });
    };
    xhr.onload = () => {
      let answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status === 201 && answer.id) {
        files.forEach((f) => (f.bar.value = 100));
        window.location.assign(`/documents/${answer.id}`);
        return;
      }
      const target = answer.field && form.querySelector(`[data-error-for="${CSS.escape(answer.field)}"]`);
      status.textContent = target ? "请修正标出的项目。" : "";
      (target || status).textContent = answer.detail || `登记失败（${xhr.status}）`;
      target?.scrollIntoView({ block: "center" });
      button.disabled = false;
    };
    xhr.onerror = () => {
      status.textContent = "网络中断，未能登记，请重试。";
      button.disabled = false;
    };
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    status.textContent = "正在上传…";
    xhr.send(data);
  });
})();

// The handwriting pad (批示): pointer events, so a mouse, a finger and a stylus all write; a
// pen's pressure sets the width. The ink is sent as the exact PNG drawn.
(function inkPad() {
  const canvas = document.getElementById("ink-pad");
  if (!canvas) return;
  const form = canvas.closest("form");
  const ctx = canvas.getContext("2d");
  let drawing = false;
  let inked = false;
  let last = null;
  const fit = () => {
    const r = canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(r.width * ratio);
    canvas.height = Math.round(r.height * ratio);
    ctx.scale(ratio, ratio);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#1a1a1a";
  };
  fit();
  const point = (e) => {
    const r = canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top, w: e.pointerType === "pen" && e.pressure > 0 ? 1 + 3 * e.pressure : 2.2 };
  };
  canvas.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    drawing = true;
    last = point(e);
    ctx.beginPath();
    ctx.arc(last.x, last.y, last.w / 2, 0, 2 * Math.PI);
    ctx.fillStyle = "#1a1a1a";
    ctx.fill();
    inked = true;
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    const p = point(e);
    ctx.lineWidth = p.w;
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    last = p;
    inked = true;
  });
  const stop = () => (drawing = false);
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);
  document.getElementById("ink-clear")?.addEventListener("click", () => {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    inked = false;
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const status = form.querySelector(".status");
    const send = async (blob) => {
      const data = new FormData(form);
      if (blob) data.append("ink", blob, "ink.png");
      const r = await fetch(form.action, { method: "POST", body: data, headers: { "X-CSRF-Token": csrf(), Accept: "application/json" }, credentials: "same-origin" });
      if (r.ok) {
        window.location.reload();
        return;
      }
      let answer = {};
      try { answer = await r.json(); } catch (_) { /* not JSON */ }
      status.textContent = answer.detail || `未能保存（${r.status}）`;
    };
    if (inked) canvas.toBlob(send, "image/png");
    else send(null);
  });
})();
