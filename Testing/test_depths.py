"""Depth tables in every format, and every way they can be wrong (each error names the line)."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import require_module
from CoreBatchLoaderLib.well.depths import DepthError, back_to_back, length_warnings, read_depth_table

CORES = ["core_1", "core_2", "core_10"]


def table(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "depths.txt"
    path.write_text(text)
    return path


def test_geoslicer_two_columns_follow_natural_core_order(tmp_path: Path) -> None:
    depths = read_depth_table(table(tmp_path, "2450.0 2450.9\n2450.9\t2451.8\n2452.0 2452.9\n"), CORES)
    assert [depths[n].top_m for n in CORES] == [2450.0, 2450.9, 2452.0]
    assert depths["core_10"].bottom_m == 2452.9 and depths["core_10"].line == 3


def test_csv_with_header_matches_core_or_folder_names_in_any_order(tmp_path: Path) -> None:
    path = table(tmp_path, "core,top,bottom,flip\nC10,12.0,12.9,yes\ncore_1,10.0,10.9,\ncore_2,11,11.9,0\n")
    depths = read_depth_table(path, CORES, folder_names={"core_10": "C10"})
    assert depths["core_10"].flip and not depths["core_1"].flip
    assert depths["core_2"].top_m == 11.0


@pytest.mark.parametrize("text", [
    "\ufeffcore;top;bottom\r\ncore_1;2450,0;2450,9\r\ncore_2;2450,9;2451,8\r\ncore_10;2452;2452,95\r\n",  # Excel, pt-BR
    "2450,0\t2450,9\n2450,9\t2451,8\n2452\t2452,95\n",  # two columns, tabs, decimal commas
    "2450,0 2450,9\n2450,9 2451,8\n2452 2452,95\n",  # two columns, spaces, decimal commas
    "core,top,bottom\ncore_1,2450.0,2450.9\ncore_2,2450.9,2451.8\ncore_10,2452,2452.95\n",
])
def test_tables_as_spreadsheets_save_them_read_alike(tmp_path: Path, text: str) -> None:
    path = tmp_path / "depths.csv"
    path.write_bytes(text.encode("utf-8"))
    depths = read_depth_table(path, CORES)
    assert [(depths[n].top_m, depths[n].bottom_m) for n in CORES] == [
        (2450.0, 2450.9), (2450.9, 2451.8), (2452.0, 2452.95)]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_tables_in_every_encoding_a_spreadsheet_saves_match_accented_folder_names(tmp_path: Path,
                                                                                encoding: str) -> None:
    """Excel's plain CSV on Windows is Windows-1252, its "Unicode text" UTF-16 with tabs."""
    separator = "\t" if encoding == "utf-16" else ";"
    text = separator.join(["core", "top", "bottom"]) + "\r\n" + separator.join(["Poço 7", "2450,5", "2451,4"]) + "\r\n"
    path = tmp_path / "depths.csv"
    path.write_bytes(text.encode(encoding))
    depths = read_depth_table(path, ["Po_o_7"], folder_names={"Po_o_7": "Poço 7"})
    assert (depths["Po_o_7"].top_m, depths["Po_o_7"].bottom_m) == (2450.5, 2451.4)


def test_a_decimal_comma_in_a_comma_separated_table_is_not_taken_for_a_number(tmp_path: Path) -> None:
    with pytest.raises(DepthError, match="line 2: bottom 5 m is not below top 2450 m"):
        read_depth_table(table(tmp_path, "core,top,bottom\ncore_1,2450,5,2451\n"), ["core_1"])


def test_a_table_for_the_whole_well_serves_a_batch_of_some_of_its_cores(tmp_path: Path) -> None:
    path = table(tmp_path, "core,top,bottom\n" + "".join("core_%d,%d,%d.9\n" % (n, n, n) for n in range(1, 31)))
    depths = read_depth_table(path, CORES)
    assert sorted(depths) == sorted(CORES) and depths["core_10"].top_m == 10.0


def test_back_to_back_cores_from_a_start_depth() -> None:
    depths = back_to_back(CORES, 1000.0, 0.9)
    assert depths["core_10"].top_m == pytest.approx(1001.8)
    assert depths["core_10"].bottom_m == pytest.approx(1002.7)


@pytest.mark.parametrize("text, message", [
    ("10 11\n11 12\n", "2 depth rows for 3 cores"),
    ("10 11\n11 10.5\n12 13\n", "line 2: bottom 10.5 m is not below top 11 m"),
    ("10 11\n10.5 11.5\n12 13\n", "line 2: core core_2 (10.5–11.5 m) overlaps core core_1"),
    ("10 11\n11 abc\n12 13\n", "line 2: 'abc' is not a depth in metres"),
    ("10\n11 12\n12 13\n", "line 1: expected two numbers"),
    ("core,top,bottom\ncore_1,1,2\ncore_9,2,3\ncore_10,3,4\n",
     "no depth row for core core_2; rows naming no core of this batch: 'core_9' (line 3)"),
    ("core,top,bottom\ncore_1,1,2\ncore_1,2,3\ncore_10,3,4\n", "line 3: core core_1 listed twice"),
    ("core,top,bottom\ncore_1,1,2\ncore_10,3,4\n", "no depth row for core core_2"),
    ("name,start,end\ncore_1,1,2\n", "header needs columns core, top, bottom"),
    ("", "no depths in the file"),
])
def test_bad_depth_tables_give_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DepthError) as error:
        read_depth_table(table(tmp_path, text), CORES)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_scanned_length_far_from_the_interval_is_a_warning() -> None:
    depths = back_to_back(["a", "b"], 100.0, 0.9)
    warnings = length_warnings(depths, {"a": 895.0, "b": 700.0})
    assert list(warnings) == ["b"] and "-200 mm" in warnings["b"]


@pytest.mark.parametrize("value", ["x", "X", "sim", "oui", "2", "ja"])
def test_an_unknown_flip_value_is_an_error_naming_the_file_row_and_accepted_values(tmp_path: Path,
                                                                                   value: str) -> None:
    path = table(tmp_path, "core,top,bottom,flip\ncore_1,1,2,\ncore_2,2,3,%s\ncore_10,3,4,no\n" % value)
    with pytest.raises(DepthError) as error:
        read_depth_table(path, CORES)
    message = str(error.value)
    assert message.startswith("%s line 3: flip %r" % (path, value)) and "\n" not in message
    assert all(accepted in message for accepted in ("yes", "true", "1", "no", "false", "0", "empty"))


@pytest.mark.parametrize("value, flip", [("", False), ("0", False), ("No", False), ("n", False), ("FALSE", False),
                                         ("1", True), ("TRUE", True), ("yes", True), ("Y", True), ("flip", True)])
def test_the_accepted_flip_values_in_any_case(tmp_path: Path, value: str, flip: bool) -> None:
    path = table(tmp_path, "core;top;bottom;flip\ncore_1;1;2;%s\ncore_2;2;3;\ncore_10;3;4;\n" % value)
    assert read_depth_table(path, CORES)["core_1"].flip is flip


def test_rows_may_name_the_cores_of_a_folder_holding_several_series(tmp_path: Path) -> None:
    """box3 turns out to hold two series (cores box3_s1 and box3_s2, or box3_1 and box3_2 without
    series numbers): a row each, by the core's name or its folder's own name plus the suffix."""
    path = table(tmp_path, "core,top,bottom,flip\nbox3_s1,1,2,\nB3_S2,2,3,yes\nbox4_2,3,4,\nbox4_1,4,5,\nbox5,5,6,\n")
    depths = read_depth_table(path, ["box3", "box4", "box5"], folder_names={"box3": "B3"})
    assert {n: (d.top_m, d.flip, d.folder_name) for n, d in depths.items()} == {
        "box3_s1": (1.0, False, "box3"), "box3_s2": (2.0, True, "box3"), "box4_2": (3.0, False, "box4"),
        "box4_1": (4.0, False, "box4"), "box5": (5.0, False, "box5")}


def test_a_row_for_a_folder_and_one_for_its_core_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DepthError, match="line 3: box3_s2 and box3 \\(line 2\\) are the same core folder box3"):
        read_depth_table(table(tmp_path, "core,top,bottom\nbox3,1,2\nbox3_s2,2,3\n"), ["box3"])


# ---------------------------------------------------------------------------------------------
# Tables as labs write them: headers with units, feet, Excel workbooks


@pytest.mark.parametrize("header", [
    "Core,Top (m),Bottom (m)", "Core ID,Top Depth,Bottom Depth", "core_id,top_m,bottom_m", "Core Name;Top [m];Base [m]",
    "CORE NO.\tFROM (m)\tTO (m)", "Core,Top Depth (metres),Bottom Depth (metres),Lithology",
])
def test_headers_as_labs_write_them_name_the_same_columns(tmp_path: Path, header: str) -> None:
    separator = ";" if ";" in header else "\t" if "\t" in header else ","
    rows = [["core_1", "2450.0", "2450.9"], ["core_2", "2450.9", "2451.8"], ["core_10", "2452", "2452.95"]]
    extra = ["sandstone"] if "Lithology" in header else []
    path = table(tmp_path, "\n".join([header] + [separator.join(r + extra) for r in rows]) + "\n")
    depths = read_depth_table(path, CORES)
    assert [(depths[n].top_m, depths[n].bottom_m) for n in CORES] == [
        (2450.0, 2450.9), (2450.9, 2451.8), (2452.0, 2452.95)]


@pytest.mark.parametrize("header, unit", [
    ("core,top (ft),bottom (ft)", None), ("Core ID,Top Depth [feet],Bottom Depth [feet]", None),
    ("core,top_ft,bottom_ft", None), ("core,Top (ft),Bottom", None),  # one unit named: the table's
    ("core,top,bottom", "ft"), ("core,top (ft),bottom (ft)", "ft"),
])
def test_depths_in_feet_from_the_header_or_the_option_are_converted_to_metres(tmp_path: Path, header: str,
                                                                              unit: str) -> None:
    path = table(tmp_path, header + "\ncore_1,8038.0,8041.0\ncore_2,8041,8044.5\ncore_10,8050,8053\n")
    depths = read_depth_table(path, CORES, unit=unit)
    assert depths["core_1"].top_m == pytest.approx(8038 * 0.3048, abs=1e-9)
    assert depths["core_2"].bottom_m == pytest.approx(2451.9636, abs=1e-9)  # 8044.5 ft
    assert depths["core_10"].unit == "ft"


def test_two_columns_without_header_follow_the_depth_unit_option(tmp_path: Path) -> None:
    path = table(tmp_path, "100 103\n103 106\n110 113\n")
    assert read_depth_table(path, CORES, unit="ft")["core_10"].bottom_m == pytest.approx(113 * 0.3048)
    assert read_depth_table(path, CORES)["core_10"].bottom_m == 113.0  # no unit anywhere: metres, as documented


def test_a_header_of_only_top_and_bottom_keeps_the_rows_in_core_name_order(tmp_path: Path) -> None:
    depths = read_depth_table(table(tmp_path, "Top (ft),Bottom (ft)\n100,103\n103,106\n110,113\n"), CORES)
    assert depths["core_10"].top_m == pytest.approx(110 * 0.3048) and depths["core_2"].line == 3


@pytest.mark.parametrize("text, unit, message", [
    ("core,top (in),bottom (in)\ncore_1,1,2\n", None, "column 'top (in)': 'in' is not a depth unit this reads (m or ft)"),
    ("core,top (m),bottom (m)\ncore_1,1,2\n", "ft", "line 1: column 'top (m)' is in m but --depth-unit says ft"),
    ("core,top,top depth,bottom\ncore_1,1,1,2\n", None, "line 1: columns 'top' and 'top depth' both give the core's top"),
    ("core,top (ft),bottom (ft)\ncore_1,1,x\n", None, "line 2: 'x' is not a depth in feet"),
    ("core,top (ft),bottom (ft)\ncore_1,3,2\n", None, "line 2: bottom 2 ft is not below top 3 ft (core core_1)"),
])
def test_bad_units_give_one_clear_line(tmp_path: Path, text: str, unit: str, message: str) -> None:
    with pytest.raises(DepthError) as error:
        read_depth_table(table(tmp_path, text), ["core_1"], unit=unit)
    assert message in str(error.value) and "\n" not in str(error.value)


def workbook(path: Path, rows: list, sheet: str = "Cores") -> Path:
    openpyxl = require_module("openpyxl", "openpyxl")
    book = openpyxl.Workbook()
    book.active.title = sheet
    for row in rows:
        book.active.append(row)
    book.save(str(path))
    return path


def test_an_excel_workbook_is_read_from_its_first_sheet(tmp_path: Path) -> None:
    path = workbook(tmp_path / "depths.xlsx", [
        ["Core ID", "Top Depth (ft)", "Bottom Depth (ft)", "Flip", "Remarks"],
        ["core_1", 8038, 8041.5, False, "rubble at base"], [None], ["core_2", 8041.5, 8044.25, True],
        ["# core_10 recovered later"], ["core_10", "8050,5", 8053]])
    depths = read_depth_table(path, CORES)
    assert depths["core_1"].bottom_m == pytest.approx(8041.5 * 0.3048)
    assert depths["core_10"].top_m == pytest.approx(8050.5 * 0.3048)
    assert (depths["core_1"].flip, depths["core_2"].flip) == (False, True)
    assert depths["core_10"].line == 6  # the sheet's row number


def test_an_excel_workbook_without_openpyxl_names_the_pip_install(tmp_path: Path, monkeypatch) -> None:
    path = workbook(tmp_path / "depths.xlsx", [["core", "top", "bottom"], ["core_1", 1, 2]])
    monkeypatch.setitem(__import__("sys").modules, "openpyxl", None)  # as if not installed
    with pytest.raises(DepthError) as error:
        read_depth_table(path, ["core_1"])
    assert str(error.value) == "%s: reading an Excel workbook (.xlsx) needs openpyxl: pip install openpyxl" % path


@pytest.mark.parametrize("data, message", [
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 4, "a legacy Excel workbook (.xls), not a depth table"),
    (b"PK\x03\x04" + b"\x00" * 26 + b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet", "(.ods)"),
    (b"PK\x03\x04" + bytes(range(256)) * 4, "not readable as an Excel workbook"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "binary data, not a depth table"),
])
def test_binary_files_are_named_never_printed(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "depths.xlsx"
    path.write_bytes(data)
    with pytest.raises(DepthError) as error:
        read_depth_table(path, ["core_1"])
    text = str(error.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text and "\\x" not in text
