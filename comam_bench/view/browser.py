"""Headless Chromium for the viewer's browser tests and the docs' screenshots (Debian's chromium and
chromedriver, driven by selenium; nothing is downloaded)."""
from __future__ import annotations

import os
import shutil
import tempfile

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium_paths() -> tuple[str | None, str | None]:
    """(browser, chromedriver) on PATH, None where absent."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    return browser, shutil.which("chromedriver")


def launch(width: int = 1400, height: int = 1000):
    """A selenium driver for a fresh headless Chromium profile; `quit(driver)` ends it and removes the profile."""
    chrome, driver = chromium_paths()
    if not chrome or not driver:
        raise RuntimeError("Chromium is absent: `apt-get install -y chromium chromium-driver` installs it.")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never look for drivers on the network
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    profile = tempfile.mkdtemp(prefix="comam-bench-chromium-")
    for flag in (*FLAGS, f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    drv = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=options)
    drv.profile_dir = profile
    return drv


def quit(drv) -> None:  # noqa: A001 - reads as browser.quit(driver)
    """End the browser and remove its profile folder."""
    drv.quit()
    shutil.rmtree(drv.profile_dir, ignore_errors=True)
