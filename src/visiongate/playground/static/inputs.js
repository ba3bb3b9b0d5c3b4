// The attachment list on the form: the file input, drag and drop, paste, the URL field, and a
// removable thumbnail per image.

import { describe, fromFile, fromUrl, part } from "./attachments.js";

export class Inputs {
  constructor({ fileInput, urlInput, addUrlButton, dropZone, list, status }) {
    this.items = [];
    this.list = list;
    this.status = status;
    this.pending = Promise.resolve();
    fileInput.addEventListener("change", () => {
      this.addFiles([...fileInput.files]);
      fileInput.value = "";
    });
    const addUrl = () => {
      const text = urlInput.value;
      if (!text.trim()) return;
      this.say("");
      this.pending = this.pending.then(async () => {
        try {
          this.add(await fromUrl(text));
          urlInput.value = "";
        } catch (error) {
          this.say(error.message);
        }
      });
    };
    addUrlButton.addEventListener("click", addUrl);
    urlInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        addUrl();
      }
    });
    dropZone.addEventListener("dragover", (event) => {
      event.preventDefault();
      dropZone.classList.add("over");
    });
    dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
    dropZone.addEventListener("drop", (event) => {
      event.preventDefault();
      dropZone.classList.remove("over");
      const files = [...event.dataTransfer.files];
      if (files.length) this.addFiles(files);
      else {
        const uri = event.dataTransfer.getData("text/uri-list").split("\n")[0];
        if (uri) urlInput.value = uri;
      }
    });
    document.addEventListener("paste", (event) => {
      const files = [...(event.clipboardData?.files ?? [])];
      if (!files.length) return;
      event.preventDefault();
      this.addFiles(files);
    });
  }

  say(text) {
    this.status.textContent = text;
  }

  /** Read the files in order; ``ready()`` resolves once every one is in the list. */
  addFiles(files) {
    this.say("");
    this.pending = this.pending.then(async () => {
      for (const file of files) {
        try {
          this.add(await fromFile(file));
        } catch (error) {
          this.say(error.message);
        }
      }
    });
    return this.pending;
  }

  ready() {
    return this.pending;
  }

  add(item) {
    this.items.push(item);
    this.draw();
  }

  remove(item) {
    this.items = this.items.filter((other) => other !== item);
    if (item.preview?.startsWith("blob:")) URL.revokeObjectURL(item.preview);
    this.draw();
  }

  parts() {
    return this.items.map(part);
  }

  draw() {
    this.list.replaceChildren(...this.items.map((item, i) => this.thumb(item, i + 1)));
  }

  thumb(item, number) {
    const li = document.createElement("li");
    li.className = "thumb";
    let picture;
    if (item.preview) {
      picture = document.createElement("img");
      picture.src = item.preview;
      picture.alt = `image ${number}: ${item.name}`;
    } else {
      picture = document.createElement("div");
      picture.className = "by-url";
      picture.textContent = item.url.length > 120 ? `${item.url.slice(0, 117)}…` : item.url;
    }
    const name = document.createElement("p");
    name.textContent = item.name;
    const facts = document.createElement("p");
    facts.className = "facts";
    facts.textContent = describe(item);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove image ${number}`);
    remove.addEventListener("click", () => this.remove(item));
    li.append(picture, name, facts, remove);
    return li;
  }
}
