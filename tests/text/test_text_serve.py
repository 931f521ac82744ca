"""`trainbook text serve`: the Gradio demo over a tiny trained run, driven in headless Chromium (type, click, read the
summary, the emotion chart, the topic and the attention heatmap; empty text, 1 MB of text and a non-UTF-8 upload give a
message in the page and the server keeps serving), plus its in-process handler and command-line checks."""
import os, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

from trainbook.core.cli import main

TEXT = "Stocks fell sharply on Monday after the central bank raised interest rates for the third time this year."
needs_browser = pytest.mark.skipif(not (shutil.which("chromedriver") or Path("/usr/bin/chromedriver").exists()) and not os.environ.get("CI"),
                                   reason="Chromium + chromium-driver not installed (CI installs them, and there this test runs)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


@pytest.fixture(scope="module")
def predictor(tiny_text_run):
    import torch
    from trainbook.text.inference import MultiTaskPredictor
    torch.set_num_threads(1)              # the server runs with OMP_NUM_THREADS=1: same arithmetic, same outputs
    return MultiTaskPredictor.from_run(tiny_text_run)


@pytest.fixture(scope="module")
def server(tiny_text_run, tmp_path_factory):
    "`trainbook text serve` in its own process on a free loopback port; yields (base URL, process)."
    port, tmp = free_port(), tmp_path_factory.mktemp("gradio")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_TEMP_DIR": str(tmp), "PYTHONUNBUFFERED": "1"}
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from trainbook.core.cli import main; sys.exit(main())",
                             "text", "serve", "--checkpoint", str(tiny_text_run), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while True:
        if proc.poll() is not None: pytest.fail(f"server exited with {proc.returncode}:\n{(tmp / 'server.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/", timeout=5) as r:
                if r.status == 200: break
        except OSError: pass
        if time.monotonic() > deadline: proc.kill(); pytest.fail("server did not answer within 240 s")
        time.sleep(0.5)
    yield url, proc
    proc.send_signal(signal.SIGINT)
    try: proc.wait(timeout=30)
    except subprocess.TimeoutExpired: proc.kill(); proc.wait()
    log.close()


@pytest.fixture(scope="module")
def browser():
    from trainbook.core.docs import chromium_driver
    d = chromium_driver(1280, 1500)
    yield d
    d.quit()


def _value(d, elem_id):
    from selenium.webdriver.common.by import By
    return d.find_element(By.CSS_SELECTOR, f"#{elem_id} textarea").get_attribute("value")


def _wait_message(d, pred, timeout=120):
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(d, timeout, poll_frequency=0.2).until(lambda d: pred(_value(d, "message")))
    return _value(d, "message")


def _image_loaded(d, elem_id) -> bool:
    return d.execute_script(f"const i = document.querySelector('#{elem_id} img'); return !!i && i.complete && i.naturalWidth > 100")


def _set_text(d, text):
    "Set the textbox the way typing does (an `input` event), without typing a megabyte key by key."
    d.execute_script("const t = document.querySelector('#text textarea'); t.value = arguments[0];"
                     "t.dispatchEvent(new Event('input', {bubbles: true}));", text)


@needs_browser
def test_page_shows_summary_chart_topic_attention(server, browser, predictor, tmp_path):
    from selenium.webdriver.common.by import By
    url, proc = server
    d = browser
    d.get(url + "/")
    from selenium.webdriver.support.ui import WebDriverWait
    box = WebDriverWait(d, 60).until(lambda d: d.find_element(By.CSS_SELECTOR, "#text textarea"))
    box.clear(); box.send_keys(TEXT)
    d.find_element(By.CSS_SELECTOR, "#analyse").click()
    msg = _wait_message(d, lambda v: v.startswith(("ok:", "Cannot", "Internal")))
    assert msg.startswith(f"ok: {len(TEXT)} characters analysed"), msg
    want = predictor.predict([TEXT])[0]
    assert _value(d, "summary") == want["summary"] and want["summary"].strip()
    WebDriverWait(d, 30).until(lambda d: _image_loaded(d, "emotions") and _image_loaded(d, "attention"))
    topic = d.find_element(By.CSS_SELECTOR, "#topic").text
    assert want["topic"] in topic.splitlines()[:3], topic                 # the winner, shown first
    assert sum(l.endswith("%") for l in topic.splitlines()) == len(want["topic_probs"]), topic
    # everything the page loaded came from the local server: no fonts, scripts or analytics from outside
    urls = d.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls and all(u.startswith(url) for u in urls), [u for u in urls if not u.startswith(url)]
    shot = tmp_path / "text_serve_demo.png"
    d.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    assert proc.poll() is None


@needs_browser
def test_page_bad_input_gives_a_message(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    url, proc = server
    d = browser
    d.get(url + "/")
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(d, 60).until(lambda d: d.find_element(By.CSS_SELECTOR, "#text textarea"))
    click = lambda: d.find_element(By.CSS_SELECTOR, "#analyse").click()
    _set_text(d, "   "); click()
    assert "the text is empty" in _wait_message(d, lambda v: v.startswith("Cannot"))
    assert _value(d, "summary") == ""
    _set_text(d, "a" * (1 << 20)); click()
    assert "1,048,576 characters" in _wait_message(d, lambda v: "1,048,576" in v)
    bad = tmp_path / "menu.txt"; bad.write_bytes("Caf\xe9 cr\xe8me, the best in town.".encode("latin-1"))
    d.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys(str(bad))
    msg = _wait_message(d, lambda v: "menu.txt" in v)
    assert msg == "Cannot read the upload: menu.txt: byte 3: not UTF-8 text (expected UTF-8)", msg
    d.save_screenshot(str(tmp_path / "text_serve_bad_upload.png"))
    good = tmp_path / "note.txt"; good.write_text("The home side won the cup final after extra time.", encoding="utf-8")
    d.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys(str(good))
    _wait_message(d, lambda v: v.startswith("file loaded"))
    assert _value(d, "text") == good.read_text()
    click()                                                    # the server survived all of it and still answers
    assert _wait_message(d, lambda v: v.startswith("ok:")).startswith("ok: 49 characters")
    assert proc.poll() is None


def test_handler_with_trained_run(predictor):
    "The page's request handler returns the predictor's own outputs, and a message instead of raising."
    from trainbook.text.serve import analyse_or_message
    summary, chart, topic_probs, attention, msg = analyse_or_message(predictor, TEXT)
    want = predictor.predict([TEXT])[0]
    assert (summary, topic_probs) == (want["summary"], want["topic_probs"]) and msg.startswith("ok: ")
    top = max(want["emotions"], key=want["emotions"].get)
    assert chart.axes[0].get_yticklabels()[-1].get_text() == top and len(chart.axes[0].patches) == len(want["emotions"])
    assert attention.axes and "cross-attention" in attention.axes[0].get_title()
    for bad, expect in [("", "the text is empty"), ("x" * (1 << 20), "1,048,576 characters"), (None, "the text is empty")]:
        out = analyse_or_message(predictor, bad)
        assert out[:4] == ("", None, None, None) and out[4].startswith("Cannot analyse this text: ") and expect in out[4]


def test_serve_command_errors(tiny_text_run, tmp_path, capsys):
    with socket.socket() as s:                  # a taken port is one line, before the model or gradio loads
        s.bind(("127.0.0.1", 0)); s.listen()
        assert main(["text", "serve", "--checkpoint", str(tiny_text_run), "--port", str(s.getsockname()[1])]) == 2
    assert "cannot serve on 127.0.0.1" in capsys.readouterr().err
    assert main(["text", "serve", "--checkpoint", str(tmp_path), "--port", str(free_port())]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint not found" in err[0]
    import torch
    if not torch.cuda.is_available():           # (on a GPU machine this would start serving)
        assert main(["text", "serve", "--checkpoint", str(tiny_text_run), "--port", str(free_port()), "--device", "cuda"]) == 2
        assert "--device cuda: no CUDA device" in capsys.readouterr().err


def test_serve_help_imports_nothing_heavy():
    code = ("import sys\nfrom trainbook.core.cli import main\n"
            "try: main(['text', 'serve', '--help'])\nexcept SystemExit as e: assert e.code == 0\n"
            "print('HEAVY:' + ','.join(m for m in ('gradio', 'torch', 'transformers', 'pandas', 'matplotlib') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "--checkpoint" in r.stdout and "127.0.0.1" in r.stdout, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "HEAVY:"
