//! A small WebDriver client over ureq, driving Debian's chromium through
//! chromedriver. Enough for the browser tests: navigate, find, click, type,
//! run a script, wait for a condition, take a screenshot.
//!
//! [`Browser::start`] fails the test, saying what to install, when chromium
//! or chromedriver is missing: no test passes without running
//! (`scripts/test.sh` installs them).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::server_support::free_port;
use crate::support::wait_until;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C element reference key.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process with one browser session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

fn find_binary(preferred: &str, name: &str) -> Option<PathBuf> {
    if Path::new(preferred).exists() {
        return Some(PathBuf::from(preferred));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.exists())
    })
}

/// The chromium and chromedriver binaries, each at its preferred path or
/// on the PATH. Panics, saying what to install, when one is missing: in CI
/// and locally alike, a browser test never passes without a browser.
fn require_browser(wanted: [(&str, &str); 2]) -> (PathBuf, PathBuf) {
    let [chromium, chromedriver] = wanted.map(|(preferred, name)| find_binary(preferred, name));
    match (chromium, chromedriver) {
        (Some(chromium), Some(chromedriver)) => (chromium, chromedriver),
        _ => panic!(
            "the browser tests need chromium and chromedriver: apt-get install -y chromium chromium-driver (scripts/test.sh installs them)"
        ),
    }
}

#[test]
#[should_panic(expected = "apt-get install -y chromium chromium-driver")]
fn a_missing_browser_fails_the_test_saying_what_to_install() {
    require_browser([
        ("/nonexistent/sparkq-test/chromium", "sparkq-no-such-chromium"),
        (CHROMEDRIVER, "chromedriver"),
    ]);
}

impl Browser {
    /// Starts chromedriver and a fresh headless chromium. Without them the
    /// test fails, saying what to install: a browser test that passes
    /// without a browser would hide a broken web UI.
    pub fn start() -> Browser {
        let (chromium, chromedriver) =
            require_browser([(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromedriver")]);
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            agent,
            _profile: profile,
        };
        wait_until("chromedriver to be ready", 20, || {
            browser
                .raw("GET", "/status", None)
                .is_some_and(|v| v["value"]["ready"] == true)
        });
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
        ];
        let mut args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        args.push(format!("--user-data-dir={}", browser._profile.path().display()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium.display().to_string(), "args": args},
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let created = browser
            .raw("POST", "/session", Some(capabilities))
            .expect("new session");
        browser.session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        browser
    }

    fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Option<Value> {
        let url = format!("{}{path}", self.base);
        let response = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(body.unwrap_or(json!({})).to_string()),
        };
        let mut response = response.ok()?;
        let text = response.body_mut().read_to_string().ok()?;
        serde_json::from_str(&text).ok()
    }

    /// A command in this session; panics with the driver's message on error.
    pub fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let full = format!("/session/{}{path}", self.session);
        let reply = self
            .raw(method, &full, body)
            .unwrap_or_else(|| panic!("webdriver {method} {path}: no reply"));
        if let Some(error) = reply["value"]["error"].as_str() {
            panic!(
                "webdriver {method} {path}: {error}: {}",
                reply["value"]["message"]
            );
        }
        reply["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url})));
    }

    /// Runs `script` (a function body; `arguments` holds `args`).
    pub fn exec(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Waits until `script` returns something truthy; returns it.
    pub fn wait_for_js(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let value = self.exec(script, vec![]);
            if !(value.is_null() || value == false || value == "" || value == 0) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; page says: {}",
                self.text("body")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for an element matching `css` and returns its reference.
    pub fn wait_for(&self, css: &str) -> Value {
        let script = format!("return document.querySelector({});", json!(css));
        let element = self.wait_for_js(&format!("element {css}"), &script);
        json!({ ELEMENT_KEY: element[ELEMENT_KEY] })
    }

    fn element_id(element: &Value) -> String {
        element[ELEMENT_KEY]
            .as_str()
            .expect("element reference")
            .to_owned()
    }

    /// Clicks the element matching `css`. The pages re-render on live
    /// events, so an element found a moment ago may have been replaced:
    /// then it is found again and clicked, until the usual deadline.
    pub fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let element = self.wait_for(css);
            let path = format!(
                "/session/{}/element/{}/click",
                self.session,
                Browser::element_id(&element)
            );
            let reply = self
                .raw("POST", &path, Some(json!({})))
                .unwrap_or_else(|| panic!("webdriver click {css}: no reply"));
            match reply["value"]["error"].as_str() {
                None => return,
                Some("stale element reference") if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Some(error) => panic!("webdriver click {css}: {error}: {}", reply["value"]["message"]),
            }
        }
    }

    /// Clears the field matching `css` and types `text` into it.
    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.wait_for(css);
        let id = Browser::element_id(&element);
        self.cmd("POST", &format!("/element/{id}/clear"), Some(json!({})));
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        );
    }

    /// Picks `value` in the `<select>` matching `css`, as a user would.
    pub fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value={}]", json!(value)));
    }

    /// The visible text of the first element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.innerText : '';",
            json!(css)
        );
        self.exec(&script, vec![]).as_str().unwrap_or("").to_owned()
    }

    /// Switches `prefers-color-scheme` (through the DevTools protocol).
    pub fn color_scheme(&self, scheme: &str) {
        let params = json!({"cmd": "Emulation.setEmulatedMedia", "params": {"features": [{"name": "prefers-color-scheme", "value": scheme}]}});
        self.cmd("POST", "/goog/cdp/execute", Some(params));
    }

    pub fn window_size(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// Saves a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) {
        use base64_decode::decode;
        let data = self.cmd("GET", "/screenshot", None);
        let bytes = decode(data.as_str().expect("base64 screenshot"));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("screenshot dir");
        std::fs::write(path, bytes).expect("write screenshot");
    }

    /// Browser console messages at level SEVERE since the last call.
    /// Fails the test when the page logged an error (a missing favicon
    /// aside).
    pub fn assert_no_console_errors(&self) {
        let errors: Vec<String> = self
            .severe_logs()
            .into_iter()
            .filter(|m| !m.contains("favicon"))
            .collect();
        assert!(errors.is_empty(), "browser console errors: {errors:?}");
    }

    pub fn severe_logs(&self) -> Vec<String> {
        let logs = self.cmd("POST", "/se/log", Some(json!({"type": "browser"})));
        logs.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.raw("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Base64 decoding for screenshots, so the tests need no extra crate.
mod base64_decode {
    pub(super) fn decode(text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() * 3 / 4);
        let mut buffer = 0u32;
        let mut bits = 0;
        for byte in text.bytes() {
            let value = match byte {
                b'A'..=b'Z' => byte - b'A',
                b'a'..=b'z' => byte - b'a' + 26,
                b'0'..=b'9' => byte - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => continue,
            };
            buffer = (buffer << 6) | u32::from(value);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
                buffer &= (1 << bits) - 1;
            }
        }
        out
    }

    #[test]
    fn decodes() {
        assert_eq!(decode("aGVsbG8="), b"hello");
        assert_eq!(decode("aGk="), b"hi");
    }
}
