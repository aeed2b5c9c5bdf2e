// Light or dark: the system's preference until the user picks one with the top bar's toggle,
// then that choice (kept in localStorage). The palette is app.css's :root[data-theme="dark"].

const KEY = "datasety.theme";
const system = window.matchMedia("(prefers-color-scheme: dark)");

const chosen = () => localStorage.getItem(KEY);
export const currentTheme = () => chosen() || (system.matches ? "dark" : "light");

function apply() {
  const theme = currentTheme();
  document.documentElement.dataset.theme = theme;
  document.documentElement.style.colorScheme = theme;
  const button = document.getElementById("theme-toggle");
  if (button) {
    button.textContent = theme === "dark" ? "☀ Light" : "☾ Dark";
    button.setAttribute("aria-label", `Switch to ${theme === "dark" ? "light" : "dark"} mode`);
  }
}

export function setTheme(theme) {
  localStorage.setItem(KEY, theme);
  apply();
}

export function initTheme() {
  apply();
  system.addEventListener("change", () => { if (!chosen()) apply(); });
  document.getElementById("theme-toggle")?.addEventListener("click", () => setTheme(currentTheme() === "dark" ? "light" : "dark"));
}
