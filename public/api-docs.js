// Copy buttons for the API reference's `curl` lines (/api/v1/docs). A file, not an inline
// script: the page's Content-Security-Policy allows scripts from this server only.
document.querySelectorAll("pre.api-curl").forEach((pre) => {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "api-copy";
  button.textContent = "Copy";
  const done = (label) => {
    button.textContent = label;
    setTimeout(() => (button.textContent = "Copy"), 1500);
  };
  button.addEventListener("click", () => {
    const text = pre.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(() => done("Copied"), () => done("Select and copy"));
      return;
    }
    // Plain http on another host: select the text, try the old copy command.
    window.getSelection().selectAllChildren(pre);
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (_) {
      copied = false;
    }
    done(copied ? "Copied" : "Selected: press Ctrl+C");
  });
  pre.parentNode.insertBefore(button, pre);
});
