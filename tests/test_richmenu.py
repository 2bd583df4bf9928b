"""The rich menu CLI installs the main flows as the default menu (issue: menu set up by a CLI command)."""
from __future__ import annotations

import struct


def test_r5_1_richmenu_installs_default_menu_with_main_flows(runner, line):
    result = runner.invoke(args=["line", "richmenu"])
    assert result.exit_code == 0, result.output
    created = [c for c in line.calls() if c["path"] == "/v2/bot/richmenu" and c["method"] == "POST"]
    assert len(created) == 1
    actions = [area["action"]["data"] for area in created[0]["body"]["areas"]]
    assert actions == ["a=prop.start", "a=sec.browse", "a=prop.mine", "a=con.browse", "a=profile.show"]
    uploads = [c for c in line.calls() if c["path"].endswith("/content")]
    assert uploads, "the menu image was not uploaded"
    assert any(c["path"].startswith("/v2/bot/user/all/richmenu/") for c in line.calls())


def test_r5_1_richmenu_image_is_a_valid_png_of_line_size():
    from webapp.cli_line import render_menu_png

    png = render_menu_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (2500, 843)
    assert len(png) < 1024 * 1024  # LINE's limit
