// The page of `sightkit serve`.
//
// It asks the server what is loaded (GET /v1/models), loads /static/panels/<name>.js for
// each name in `panels`, and renders every registered panel into its own <section>.
// A panel file is one call:
//
//   sightkit.registerPanel({name: "classify", title: "Classify", render(root, {api, models}) {...}});
//
// Plain JavaScript with no build step. The server's Content-Security-Policy forbids inline
// scripts, inline styles and event-handler attributes, so everything is built with the DOM.
"use strict";

window.sightkit = (() => {
  const KEY_STORAGE = "sightkit-api-key";
  const panels = new Map();
  let booted = false;

  /** Called once by each panel file. */
  function registerPanel(panel) {
    panels.set(panel.name, panel);
  }

  // ---------------------------------------------------------------- API helper

  /** An error answer of the server; `message` is its `detail`, ready to show. */
  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  async function request(method, path, body) {
    const headers = {};
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers["X-API-Key"] = key;
    let response;
    try {
      response = await fetch(path, {method, body, headers});
    } catch {
      throw new ApiError("The server cannot be reached. Is sightkit serve still running?", 0);
    }
    if (!response.ok) {
      if (response.status === 401 || response.status === 403) showKeyForm();
      throw new ApiError(await errorDetail(response), response.status);
    }
    return response;
  }

  /** The server's `detail` sentence, or a plain description of the status. */
  async function errorDetail(response) {
    try {
      const {detail} = await response.json();
      if (typeof detail === "string") return detail;
      if (Array.isArray(detail)) return detail.map((item) => item.msg).join("; ");
    } catch {
      // Not JSON (e.g. a proxy's error page): fall through.
    }
    return `The server answered ${response.status} ${response.statusText}.`;
  }

  const api = {
    get: async (path) => (await request("GET", path)).json(),
    post: async (path, formData) => (await request("POST", path, formData)).json(),
    del: async (path) => (await request("DELETE", path)).json(),
    /** POST that answers a file: resolves to {blob, headers}. */
    postForBlob: async (path, formData) => {
      const response = await request("POST", path, formData);
      return {blob: await response.blob(), headers: response.headers};
    },
  };

  // ---------------------------------------------------------------- DOM helpers

  /**
   * el("p", {id: "x", class: "status"}, "text", child) -> a new element.
   * Attributes go through setAttribute (true -> present, false/null -> absent);
   * string children become text nodes, so server data is never parsed as HTML.
   */
  function el(tag, attributes = {}, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === true) element.setAttribute(name, "");
      else if (value !== false && value !== null && value !== undefined) element.setAttribute(name, value);
    }
    element.append(...children.filter((child) => child !== null && child !== undefined));
    return element;
  }

  /** A live message line: `show(text)`, `clear()`; kind "error" is announced at once. */
  function messageLine(id, kind = "status") {
    const element = el("p", {id, class: kind, role: kind === "error" ? "alert" : "status"});
    return {
      element,
      show(text) { element.textContent = text; },
      clear() { element.textContent = ""; },
    };
  }

  /**
   * Run an async action for a button: disable the button, show `busyText`, and turn any
   * failure into the panel's error line. Resolves to the action's value, or undefined on error.
   */
  async function guard({button, status, error, busyText = "Working…"}, action) {
    error.clear();
    status.show(busyText);
    if (button) button.disabled = true;
    try {
      return await action();
    } catch (err) {
      error.show(err instanceof ApiError ? err.message : `Something went wrong: ${err.message}`);
      return undefined;
    } finally {
      status.clear();
      if (button) button.disabled = false;
    }
  }

  /**
   * A drop zone: a <button> that opens the file chooser (so Enter and Space work) and
   * accepts dropped files. `onFiles(files)` gets a FileList-like array.
   */
  function dropZone({id, text = "Choose an image", multiple = false, onFiles}) {
    const input = el("input", {id: `${id}-file`, type: "file", accept: "image/*", multiple, hidden: true});
    const button = el("button", {id, type: "button", class: "dropzone"},
      el("span", {class: "dropzone-main"}, text),
      el("span", {class: "dropzone-hint"}, multiple ? "or drop images here" : "or drop one here"));
    button.addEventListener("click", () => input.click());
    input.addEventListener("change", () => {
      if (input.files.length) onFiles([...input.files]);
      input.value = "";  // choosing the same file again still fires "change"
    });
    button.addEventListener("dragover", (event) => {
      event.preventDefault();
      button.classList.add("dragging");
    });
    button.addEventListener("dragleave", () => button.classList.remove("dragging"));
    button.addEventListener("drop", (event) => {
      event.preventDefault();
      button.classList.remove("dragging");
      const files = [...event.dataTransfer.files];
      if (files.length) onFiles(multiple ? files : files.slice(0, 1));
    });
    return el("div", {class: "dropzone-wrap"}, input, button);
  }

  /** Show `src` in an <img>; tiny images (e.g. 32 px) are scaled up without blurring. */
  function showImage(img, src) {
    img.addEventListener("load", () => img.classList.toggle("pixelated", img.naturalWidth < 128), {once: true});
    img.src = src;
  }

  /** A FormData from {name: value or File or [Files]}. */
  function formData(fields) {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) {
      for (const item of Array.isArray(value) ? value : [value]) form.append(name, item);
    }
    return form;
  }

  // ---------------------------------------------------------------- API key

  function showKeyForm() {
    const form = document.getElementById("key-form");
    if (!form.hidden) return;
    form.hidden = false;
    document.getElementById("api-key").focus();
  }

  function setUpKeyForm() {
    const form = document.getElementById("key-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY_STORAGE, document.getElementById("api-key").value);
      form.hidden = true;
      if (!booted) boot();
    });
  }

  // ---------------------------------------------------------------- panels

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = el("script", {src});
      script.addEventListener("load", resolve);
      script.addEventListener("error", () => reject(new Error(`could not load ${src}`)));
      document.head.append(script);
    });
  }

  async function loadPanel(name) {
    if (!panels.has(name)) await loadScript(`/static/panels/${encodeURIComponent(name)}.js`);
    return panels.get(name);
  }

  function renderPanel(panel, context) {
    const titleId = `panel-${panel.name}-title`;
    const section = el("section", {id: `panel-${panel.name}`, class: "panel", "aria-labelledby": titleId},
      el("h2", {id: titleId}, panel.title));
    document.getElementById("panels").append(section);
    document.getElementById("panel-nav").append(
      el("li", {}, el("a", {href: `#panel-${panel.name}`}, panel.title)));
    panel.render(section, context);
  }

  async function boot() {
    const status = document.getElementById("page-status");
    status.className = "status";
    status.textContent = "Loading…";
    let models;
    try {
      models = await api.get("/v1/models");
    } catch (err) {
      status.className = "error";
      status.textContent = err.message;
      return;
    }
    booted = true;
    if (!models.panels.length) {
      status.textContent = "Nothing is loaded. Start the server with --classifier, --gallery, --upscaler or --inpainter.";
      return;
    }
    const loaded = await Promise.all(models.panels.map((name) => loadPanel(name).catch(() => null)));
    status.remove();
    loaded.forEach((panel, i) => {
      if (panel) renderPanel(panel, {api, models});
      else document.getElementById("panels").append(
        el("p", {class: "error"}, `The panel "${models.panels[i]}" could not be loaded.`));
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setUpKeyForm();
    boot();
  });

  return {registerPanel, api, el, messageLine, guard, dropZone, showImage, formData};
})();
