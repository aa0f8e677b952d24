"""The web UI walks of the end-to-end run, in headless Debian Chromium driven by Selenium through
Debian's chromedriver (no browser download). A screenshot after every step; a failed step is a
failed check with a screenshot and the page's HTML, never a crash.

* `walk`: log in, search `ocr:<text>`, see the photo, open it, "Regenerate OCR" from its menu, see
  the confirmation toast — in English, and again in Simplified Chinese (the browser's language is
  zh-CN, which Immich maps to its zh-Hans strings); the labels come from the built tree's i18n files.
* `pick_ocr_model`: the admin chooses an OCR model in Administration → Settings → Machine learning
  → OCR and saves."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.immich.e2e.search_e2e import Check

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver",)


@dataclass(frozen=True)
class Labels:
    """What the UI shows in one language: the browser language and the strings the walk clicks on."""

    browser_lang: str  # Chromium --lang, read by Immich as navigator.languages
    more: str  # the viewer's ⋮ button (aria-label)
    regenerate_ocr: str  # menu item
    regenerating_ocr: str  # toast
    search_placeholder: str  # proves the page is in this language
    save: str

    @classmethod
    def from_tree(cls, tree: Path, i18n_file: str, browser_lang: str) -> Labels:
        """Strings of the *built* tree (the patch series adds the regenerate ones), so a changed
        translation changes the walk with it."""
        strings = json.loads((tree / "i18n" / f"{i18n_file}.json").read_text())
        english = json.loads((tree / "i18n" / "en.json").read_text())

        def get(key: str) -> str:
            return str(strings.get(key) or english[key])

        return cls(
            browser_lang,
            get("more"),
            get("regenerate_ocr"),
            get("regenerating_ocr"),
            get("search_your_photos"),
            get("save"),
        )


def browser_missing() -> str | None:
    """Why the walk cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[e2e]')"
    if not any(Path(p).is_file() for p in CHROMIUM) or not any(Path(p).is_file() for p in CHROMEDRIVER):
        return "Debian chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
    return None


class Browser:
    """One fresh Chromium profile (so the language comes from the browser, not a stored choice)."""

    def __init__(self, screenshots: Path, lang: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = next(p for p in CHROMIUM if Path(p).is_file())
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--window-size=1400,900",
            f"--lang={lang}",
        ):
            options.add_argument(argument)
        options.add_experimental_option("prefs", {"intl.accept_languages": lang})
        service = Service(executable_path=next(p for p in CHROMEDRIVER if Path(p).is_file()))
        self.driver: Any = webdriver.Chrome(options=options, service=service)
        self.screenshots = screenshots
        self.checks: list[Check] = []
        self.timings: dict[str, float] = {}
        self.step = 0
        screenshots.mkdir(parents=True, exist_ok=True)

    def wait(self, seconds: float = 60) -> Any:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, seconds)

    def shot(self, name: str) -> None:
        self.step += 1
        self.driver.save_screenshot(str(self.screenshots / f"{self.step:02d}-{name}.png"))

    def check(self, label: str, expected: object, got: object) -> None:
        self.checks.append(Check(label, str(expected), str(got)))

    def failed(self, prefix: str, exc: Exception) -> None:
        first = str(exc).splitlines()[0] if str(exc) else ""
        self.check(f"{prefix} step {self.step + 1}", "completed", f"{type(exc).__name__}: {first}")
        try:
            self.shot("failure")
            (self.screenshots / "failure.html").write_text(self.driver.page_source)
        except Exception:  # noqa: BLE001 - the browser may be gone; the failed check is what matters
            pass

    def login(self, web: str, email: str, password: str) -> Any:
        """Log in; returns the search bar of the timeline."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as seen

        self.driver.get(f"{web}/auth/login")
        self.wait().until(seen.visibility_of_element_located((By.CSS_SELECTOR, "input[type=email]"))).send_keys(email)
        self.driver.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(password)
        self.shot("login")
        self.driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        return self.wait().until(seen.element_to_be_clickable((By.ID, "main-search-bar")))

    def quit(self) -> None:
        self.driver.quit()


def walk(
    web: str,
    email: str,
    password: str,
    query: str,
    expected_asset: str,
    screenshots: Path,
    labels: Labels,
    prefix: str = "UI",
) -> tuple[list[Check], dict[str, float]]:
    """Log in, `ocr:<query>`, open the first photo, its menu → Regenerate OCR, the toast."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as seen

    browser = Browser(screenshots, labels.browser_lang)
    driver = browser.driver
    try:
        search_bar = browser.login(web, email, password)
        browser.check(
            f"{prefix}: logged in, the timeline with the search bar is shown", "/photos", _path(driver.current_url)
        )
        browser.check(
            f"{prefix}: the page speaks the language (search bar placeholder)",
            labels.search_placeholder,
            search_bar.get_attribute("placeholder"),
        )
        browser.shot("timeline")

        search_bar.click()
        search_bar.send_keys(f"ocr:{query}")
        browser.shot("search-typed")
        started = time.monotonic()
        search_bar.send_keys(Keys.ENTER)
        browser.wait().until(seen.visibility_of_element_located((By.CSS_SELECTOR, "[data-asset]")))
        browser.timings[f"{prefix}: `ocr:{query}` results shown, s"] = round(time.monotonic() - started, 2)
        time.sleep(1)  # let the grid settle before reading its order
        found = [el.get_attribute("data-asset") for el in driver.find_elements(By.CSS_SELECTOR, "[data-asset]")]
        browser.check(
            f"{prefix}: `ocr:{query}` shows the expected photo first", expected_asset, found[0] if found else "none"
        )
        browser.shot("search-results")

        driver.find_element(By.CSS_SELECTOR, f"[data-asset='{expected_asset}']").click()
        shown = browser.wait().until(
            seen.visibility_of_element_located((By.CSS_SELECTOR, f"#immich-asset-viewer img[src*='{expected_asset}']"))
        )
        browser.check(
            f"{prefix}: the viewer shows that photo (its image is loaded from the asset's URL)",
            True,
            driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", shown),
        )
        time.sleep(1)
        browser.shot("viewer")

        more = f"button[aria-label='{labels.more}'], button[title='{labels.more}']"
        browser.wait().until(seen.element_to_be_clickable((By.CSS_SELECTOR, more))).click()
        text = labels.regenerate_ocr
        item = browser.wait().until(
            seen.element_to_be_clickable(
                (
                    By.XPATH,
                    f"//*[@role='menuitem'][normalize-space()='{text}'] | "
                    f"//*[@role='menuitem'][.//*[normalize-space()='{text}']]",
                )
            )
        )
        browser.shot("menu")
        item.click()
        toast = browser.wait().until(
            seen.visibility_of_element_located(
                (By.XPATH, f"//*[contains(normalize-space(text()), '{labels.regenerating_ocr}')]")
            )
        )
        browser.check(
            f"{prefix}: menu '{text}' shows the confirmation toast", labels.regenerating_ocr, toast.text.strip()
        )
        browser.shot("confirmation")
    except Exception as exc:  # noqa: BLE001 - a failed step is a failed check with a screenshot, not a crash
        browser.failed(f"{prefix} walk", exc)
    finally:
        browser.quit()
    return browser.checks, browser.timings


def pick_ocr_model(
    web: str, email: str, password: str, model: str, screenshots: Path, labels: Labels
) -> tuple[list[Check], list[str]]:
    """Administration → Settings → Machine learning → OCR → model `model` → Save. Returns the checks
    and the models the list offers."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import Select

    browser = Browser(screenshots, labels.browser_lang)
    driver = browser.driver
    offered: list[str] = []
    try:
        browser.login(web, email, password)
        driver.get(f"{web}/admin/system-settings?isOpen=machine-learning+ocr")
        select = browser.wait().until(seen.visibility_of_element_located((By.CSS_SELECTOR, "select[name='ocr-model']")))
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", select)
        offered = [str(option.get_attribute("value")) for option in Select(select).options]
        browser.shot("ocr-model-list")
        browser.check(f"admin UI: the OCR model list offers {model}", True, model in offered)
        if model not in offered:
            return browser.checks, offered
        Select(select).select_by_value(model)
        browser.shot("ocr-model-chosen")
        form = select.find_element(By.XPATH, "ancestor::form")
        save = form.find_element(By.XPATH, f".//button[normalize-space()='{labels.save}']")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", save)
        save.click()
        time.sleep(2)  # the toast, and the PUT behind it
        browser.shot("ocr-model-saved")
    except Exception as exc:  # noqa: BLE001 - a failed step is a failed check with a screenshot, not a crash
        browser.failed("admin UI OCR model", exc)
    finally:
        browser.quit()
    return browser.checks, offered


def _path(url: str) -> str:
    from urllib.parse import urlparse

    return urlparse(url).path


def chromium_version() -> str:
    binary = next((p for p in CHROMIUM if Path(p).is_file()), None) or shutil.which("chromium") or "chromium"
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
