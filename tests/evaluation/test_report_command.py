import json

from appariement.cli import main


def test_report_command_writes_html_and_json(world, tmp_path):
    world.result.write(tmp_path / "linkage")
    world.data.write(tmp_path / "synth")
    code = main(["-q", "report", "--links", str(tmp_path / "linkage"), "--platform",
                 str(tmp_path / "synth" / "platform"), "--out", str(tmp_path / "rep"),
                 "--min-cell", "15"])
    assert code == 0
    figures = json.loads((tmp_path / "rep" / "report.json").read_text(encoding="utf-8"))
    assert figures["disclosure"]["threshold"] == 15
    assert (tmp_path / "rep" / "report.html").stat().st_size > 500_000  # vega inlined


def test_report_command_missing_folder_is_a_config_error(tmp_path):
    assert main(["-q", "report", "--links", str(tmp_path / "none"), "--platform",
                 str(tmp_path), "--out", str(tmp_path / "o")]) == 2
