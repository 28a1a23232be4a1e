// Copy buttons: <button data-copy="element-id"> copies that element's text. Everything else works without
// JavaScript. The clipboard API exists only on secure pages (https, or http on localhost); elsewhere, such as
// a registry on plain http inside a network, the older execCommand("copy") on a hidden text area does it.
function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  return new Promise((resolve, reject) => {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    const copied = document.execCommand("copy");
    area.remove();
    copied ? resolve() : reject(new Error("copy refused"));
  });
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  copyText(source.textContent.trim()).then(() => {
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = "Copied";
    button.dataset.copied = "true";
    setTimeout(() => { button.textContent = label; delete button.dataset.copied; }, 1500);
  }, () => { button.textContent = "Copy failed: select the text"; });
});
