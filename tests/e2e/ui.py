"""The web UI walk of the end-to-end run, in headless Debian Chromium driven by Selenium through
Debian's chromedriver (no browser download): log in, search `ocr:<text>`, see the photo, open it,
"Regenerate OCR" from its menu, see the confirmation toast. A screenshot after every step."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from tests.immich.e2e.search_e2e import Check

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver",)


def browser_missing() -> str | None:
    """Why the walk cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[e2e]')"
    if not any(Path(p).is_file() for p in CHROMIUM) or not any(Path(p).is_file() for p in CHROMEDRIVER):
        return "Debian chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
    return None


def _driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = next(p for p in CHROMIUM if Path(p).is_file())
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900", "--lang=en-US"):
        options.add_argument(argument)
    service = Service(executable_path=next(p for p in CHROMEDRIVER if Path(p).is_file()))
    return webdriver.Chrome(options=options, service=service)


def walk(web: str, email: str, password: str, query: str, expected_asset: str, screenshots: Path) -> tuple[list[Check], dict[str, float]]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    screenshots.mkdir(parents=True, exist_ok=True)
    checks: list[Check] = []
    timings: dict[str, float] = {}
    driver = _driver()
    wait = WebDriverWait(driver, 60)
    step = 0

    def shot(name: str) -> None:
        nonlocal step
        step += 1
        driver.save_screenshot(str(screenshots / f"{step:02d}-{name}.png"))

    def check(label: str, expected: object, got: object) -> None:
        checks.append(Check(label, str(expected), str(got)))

    try:
        driver.get(f"{web}/auth/login")
        wait.until(seen.visibility_of_element_located((By.CSS_SELECTOR, "input[type=email]"))).send_keys(email)
        driver.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(password)
        shot("login")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        search_bar = wait.until(seen.element_to_be_clickable((By.ID, "main-search-bar")))
        check("UI: logged in, the timeline with the search bar is shown", "/photos", _path(driver.current_url))
        shot("timeline")

        search_bar.click()
        search_bar.send_keys(f"ocr:{query}")
        shot("search-typed")
        started = time.monotonic()
        search_bar.send_keys(Keys.ENTER)
        wait.until(seen.visibility_of_element_located((By.CSS_SELECTOR, "[data-asset]")))
        timings[f"UI: `ocr:{query}` results shown, s"] = round(time.monotonic() - started, 2)
        time.sleep(1)  # let the grid settle before reading its order
        found = [el.get_attribute("data-asset") for el in driver.find_elements(By.CSS_SELECTOR, "[data-asset]")]
        check(f"UI: `ocr:{query}` shows the expected photo first", expected_asset, found[0] if found else "none")
        shot("search-results")

        driver.find_element(By.CSS_SELECTOR, f"[data-asset='{expected_asset}']").click()
        shown = wait.until(seen.visibility_of_element_located(
            (By.CSS_SELECTOR, f"#immich-asset-viewer img[src*='{expected_asset}']")))
        check("UI: the viewer shows that photo (its image is loaded from the asset's URL)", True,
              driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", shown))
        time.sleep(1)
        shot("viewer")

        wait.until(seen.element_to_be_clickable((By.CSS_SELECTOR, "button[aria-label='More'], button[title='More']"))).click()
        item = wait.until(seen.element_to_be_clickable((By.XPATH, "//*[@role='menuitem'][normalize-space()='Regenerate OCR'] | "
                                                                   "//*[@role='menuitem'][.//*[normalize-space()='Regenerate OCR']]")))
        shot("menu")
        item.click()
        toast = wait.until(seen.visibility_of_element_located((By.XPATH, "//*[contains(normalize-space(text()), 'Regenerating OCR')]")))
        check("UI: menu 'Regenerate OCR' shows the confirmation toast", "Regenerating OCR", toast.text.strip())
        shot("confirmation")
    except Exception as exc:  # a failed step is a failed check with a screenshot, not a crash
        check(f"UI walk step {step + 1}", "completed", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        try:
            shot("failure")
            (screenshots / "failure.html").write_text(driver.page_source)
        except Exception:
            pass
    finally:
        driver.quit()
    return checks, timings


def _path(url: str) -> str:
    from urllib.parse import urlparse

    return urlparse(url).path


def chromium_version() -> str:
    binary = next((p for p in CHROMIUM if Path(p).is_file()), None) or shutil.which("chromium") or "chromium"
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
