// Search panel: one photo -> the most similar catalogue images, as thumbnails with scores.
// Talks to POST /v1/search (image + k, thumbnails=true), which answers JSON hits with a
// small JPEG data: URI each (docs/search.md). The catalogue's paths are on the server.
"use strict";

sightkit.registerPanel({
  name: "search",
  title: "Search",

  render(root, {api, models}) {
    const {el, messageLine, guard, dropZone, formData} = sightkit;
    const {name, images} = models.search;
    let file = null;
    let photoUrl = null;

    const status = messageLine("search-status");
    const error = messageLine("search-error", "error");
    const drop = dropZone({id: "search-drop", onFiles: ([chosen]) => choose(chosen)});
    const count = el("input", {id: "search-k", type: "number", min: 1, max: 100, value: 8});
    const photo = el("img", {id: "search-photo", alt: "The photo searched for", class: "search-thumb"});
    const hits = el("ol", {id: "search-hits", class: "search-hits", "aria-label": "Most similar images"});
    const result = el("div", {id: "search-result", class: "result", hidden: true},
      el("figure", {}, photo, el("figcaption", {}, "Query")), hits);

    root.append(
      el("p", {class: "lead"}, `Find the most similar of ${images.toLocaleString()} images in catalogue ${name}.`),
      el("div", {class: "field"}, el("label", {for: "search-k"}, "Results "), count),
      drop, status.element, error.element, result);

    count.addEventListener("change", () => { if (file) run(); });

    function choose(chosen) {
      file = chosen;
      if (photoUrl) URL.revokeObjectURL(photoUrl);
      photoUrl = URL.createObjectURL(file);
      run();
    }

    async function run() {
      const k = Math.min(100, Math.max(1, Number(count.value) || 8));
      const answer = await guard({button: drop.querySelector("button"), status, error, busyText: "Searching…"},
        () => api.post("/v1/search", formData({file, k, thumbnails: "true"})));
      result.hidden = !answer;
      if (!answer) return;
      photo.src = photoUrl;
      hits.replaceChildren(...answer.results.map((hit) => el("li", {},
        el("figure", {},
          hit.thumbnail ? el("img", {src: hit.thumbnail, alt: hit.path, class: "search-thumb"})
                        : el("div", {class: "search-thumb muted"}, "unreadable"),
          el("figcaption", {}, `#${hit.rank} ${hit.score.toFixed(3)}`, el("br"), el("span", {class: "muted"},
            hit.path.split("/").slice(-2).join("/")))))));
    }
  },
});
