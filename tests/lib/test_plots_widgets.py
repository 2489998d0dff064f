import ipywidgets
import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

from dltheory import plots, widgets

matplotlib.use("Agg")  # tests only; notebooks keep their inline backend


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_use_style_sets_the_colour_blind_safe_cycle():
    plots.use_style()
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    assert [c.upper() for c in colours] == list(plots.OKABE_ITO)


def test_pca_2d_keeps_the_two_largest_directions():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(500, 5, generator=g) * torch.tensor([5.0, 0.1, 3.0, 0.1, 0.1])
    p = plots.pca_2d(f)
    assert p.shape == (500, 2)
    # Variance along the two components: about 25 and 9.
    var = p.var(dim=0)
    assert var[0] > 20
    assert 7 < var[1] < 11


def test_plot_embedding_draws_one_series_per_label():
    f = torch.randn(30, 4)
    y = torch.arange(30) % 3
    ax = plots.plot_embedding(f, y, title="three classes")
    assert len(ax.collections) == 3
    assert ax.get_xlabel() == "PC1"
    assert ax.get_title() == "three classes"


def test_plot_curves_and_bars_label_their_axes():
    history = {"step": [1, 2], "loss": [2.0, 1.0], "embedding_std": [0.1, 0.5]}
    ax = plots.plot_curves(history)
    assert ax.get_xlabel() == "step"
    assert len(ax.get_lines()) == 2
    ax = plots.plot_bars(
        {"raw": {"5": 0.8, "all": 0.97}, "ssl": {"5": 0.9, "all": 0.98}}
    )
    assert len(ax.patches) == 4
    assert ax.get_ylabel() == "accuracy"


def test_plot_regions_colours_each_region_once():
    image = torch.tensor([[0, 0, 1], [2, 2, 1], [2, 2, 1]])
    ax = plots.plot_regions(image, (-1, 1, -1, 1))
    rgb = ax.get_images()[0].get_array()
    assert rgb.shape == (3, 3, 3)
    assert (rgb[0, 0] == rgb[0, 1]).all()
    assert not (rgb[0, 0] == rgb[0, 2]).all()


def test_plot_matrix_centres_signed_maps_on_zero():
    ax = plots.plot_matrix(torch.tensor([[1.0, -3.0], [0.5, 2.0]]))
    image = ax.get_images()[0]
    assert image.get_clim() == (-3.0, 3.0)


def _panel(ax, depth=1, width=8, colour="k"):
    ax.plot([0, depth], [0, width], color=colour)
    ax.set_title(f"depth {depth}, width {width}")


def test_static_grid_draws_every_combination():
    fig = widgets.static_grid(_panel, {"depth": [1, 2], "width": [4, 8, 16]})
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == [f"depth {d}, width {w}" for d in (1, 2) for w in (4, 8, 16)]


def test_interact_falls_back_to_a_static_grid_without_a_front_end(monkeypatch):
    monkeypatch.setenv("DLT_WIDGETS", "static")
    assert widgets.mode() == "static"
    widgets.interact(_panel, static={"depth": [1, 2, 3]}, depth=(1, 3, 1))
    fig = plt.gcf()
    assert [ax.get_title() for ax in fig.axes] == [
        f"depth {d}, width 8" for d in (1, 2, 3)
    ]


def test_mode_detects_a_jupyter_server_kernel(monkeypatch):
    monkeypatch.delenv("DLT_WIDGETS", raising=False)
    monkeypatch.delenv("VSCODE_PID", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert widgets.mode() == "static"
    monkeypatch.setenv("JPY_SESSION_NAME", "notebook.ipynb")
    assert widgets.mode() == "live"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"static": {"depth": [1]}, "height": (1, 3)}, "not parameters"),
        ({"static": {"width": [1]}, "depth": (1, 3)}, "not controls"),
        ({"static": {}, "depth": (1, 3)}, "non-empty"),
    ],
)
def test_interact_rejects_inconsistent_controls(monkeypatch, kwargs, match):
    monkeypatch.setenv("DLT_WIDGETS", "static")
    with pytest.raises(ValueError, match=match):
        widgets.interact(_panel, **kwargs)


def test_dlt_widgets_is_validated(monkeypatch):
    monkeypatch.setenv("DLT_WIDGETS", "sometimes")
    with pytest.raises(ValueError, match="DLT_WIDGETS"):
        widgets.mode()


def test_mode_check_is_chosen_only_through_dlt_widgets(monkeypatch):
    monkeypatch.setenv("DLT_WIDGETS", "check")
    assert widgets.mode() == "check"
    monkeypatch.delenv("DLT_WIDGETS")
    monkeypatch.setenv("JPY_SESSION_NAME", "notebook.ipynb")
    assert widgets.mode() == "live"


def _controls(**abbreviations):
    # The controls ipywidgets itself builds from the abbreviations, by argument.
    def callback(**values):
        return values

    live = ipywidgets.interactive(callback, **abbreviations)
    return {control._kwarg: control for control in live.kwargs_widgets}


def test_control_values_expand_the_abbreviations_as_ipywidgets_does():
    c = _controls(
        width=(8, 64, 8),  # IntSlider 8..64 by 8, starts at 32 (mid-range, on a step)
        depth=(1, 4, 1),
        mu=[0.0, 1.0, 25.0],  # Dropdown, starts at the first option
        pair={"a": 1, "b": 2},  # Dropdown of labelled values
        flag=True,  # Checkbox
        label="text",  # Text: values cannot be listed
    )
    assert widgets.control_values(c["width"]) == (
        "value",
        [8, 16, 24, 40, 48, 56, 64, 32],
    )
    assert widgets.control_values(c["depth"]) == ("value", [1, 3, 4, 2])
    assert widgets.control_values(c["mu"]) == ("index", [1, 2, 0])
    assert widgets.control_values(c["pair"]) == ("index", [1, 0])
    assert widgets.control_values(c["flag"]) == ("value", [False, True])
    assert widgets.control_values(c["label"]) == ("value", ["text"])


def test_control_values_step_float_sliders_in_decimals_and_reach_max():
    step = ipywidgets.FloatSlider(min=0.25, max=3.0, step=0.25, value=1.0)
    expected = [0.25 * k for k in range(1, 13) if k != 4] + [1.0]
    assert widgets.control_values(step) == ("value", expected)
    tenths = _controls(x=(-1.0, 2.0, 0.1))["x"]  # 31 positions
    _, values = widgets.control_values(tenths, max_values=31)
    assert len(values) == 31
    assert 0.3 in values  # -1 + 13 * 0.1 is 0.30000000000000004 in binary
    off_step = ipywidgets.IntSlider(min=0, max=10, step=3, value=5)
    assert widgets.control_values(off_step) == ("value", [0, 3, 6, 9, 10, 5])


def test_control_values_cap_long_sliders_keeping_both_ends_and_the_start():
    tenths = _controls(x=(-1.0, 2.0, 0.1))["x"]  # 31 positions, starts at 0.5
    _, values = widgets.control_values(tenths)
    assert len(values) == widgets.CHECK_MAX_VALUES + 1
    assert (values[0], values[-2], values[-1]) == (-1.0, 2.0, tenths.value)
    gaps = [b - a for a, b in zip(values[:-2], values[1:-1], strict=True)]
    assert max(gaps) <= 0.3 + 1e-9  # every third position at most
    few = widgets.control_values(tenths, max_values=2)
    assert few == ("value", [-1.0, 2.0, tenths.value])
    options = [str(k) for k in range(40)]  # selections are never capped
    _, indices = widgets.control_values(ipywidgets.Dropdown(options=options))
    assert sorted(indices) == list(range(40))
    with pytest.raises(ValueError, match="max_values"):
        widgets.control_values(tenths, max_values=1)


def test_control_values_of_a_log_slider_are_powers_of_its_base():
    log = ipywidgets.FloatLogSlider(value=1e-3, base=10, min=-4, max=-1, step=0.25)
    _, values = widgets.control_values(log, max_values=13)
    exponents = [-4 + 0.25 * k for k in range(13) if k != 4]
    assert values[:-1] == pytest.approx([10**e for e in exponents], rel=1e-11)
    assert values[-1] == 1e-3


def _recorder(fail_at=()):
    calls = []

    def callback(depth=1, colour="k"):
        calls.append((depth, colour))
        if depth in fail_at or colour in fail_at:
            raise KeyError(f"nothing cached for {depth}, {colour}")

    return callback, calls


def test_check_controls_moves_one_control_at_a_time_through_its_values():
    callback, calls = _recorder()
    live = ipywidgets.interactive(callback, depth=(1, 3, 1), colour=["k", "r"])
    assert calls == [(1, "k")]  # the first draw: ipywidgets starts at the defaults
    received = widgets.check_controls(live)
    assert received == {"depth": [2, 3, 1], "colour": ["r", "k"]}
    assert calls[1:] == [(2, "k"), (3, "k"), (1, "k"), (1, "r"), (1, "k")]
    assert live.kwargs == {"depth": 1, "colour": "k"}  # left as it was


def test_check_controls_fails_on_a_callback_that_fails_at_one_value():
    callback, _ = _recorder(fail_at=(3, "r"))
    live = ipywidgets.interactive(callback, depth=(1, 3, 1), colour=["k", "r"])
    with pytest.raises(RuntimeError, match="depth=3, colour='r'") as failure:
        widgets.check_controls(live)
    assert isinstance(failure.value.__cause__, KeyError)  # the callback's own error


def test_interact_check_mode_needs_a_kernel(monkeypatch):
    monkeypatch.setenv("DLT_WIDGETS", "check")
    with pytest.raises(RuntimeError, match="Jupyter kernel"):
        widgets.interact(_panel, static={"depth": [1, 2]}, depth=(1, 3, 1))


def test_interact_live_opens_at_the_defaults_of_fn(monkeypatch):
    monkeypatch.setenv("DLT_WIDGETS", "live")
    # Without fn's defaults ipywidgets would start mid-range and at the first
    # option ("depth 2, width 4"); _panel's defaults are depth 1, width 8.
    widgets.interact(_panel, static={"depth": [1]}, depth=(1, 3, 1), width=[4, 8])
    titles = [ax.get_title() for ax in plt.gcf().axes]
    assert titles == ["depth 1, width 8"]  # Agg: plt.show() leaves it open


def test_plot_images_tiles_the_batch():
    x = torch.arange(6 * 4, dtype=torch.float32).reshape(6, 4)  # six 2x2 images
    ax = plots.plot_images(x, shape=(2, 2), ncols=4)
    mosaic = ax.get_images()[0].get_array()
    assert mosaic.shape == (2 * 3 - 1, 4 * 3 - 1)
    assert mosaic[0, 0] == 0
    assert mosaic[3, 0] == 16  # image 4 starts the second row
    assert mosaic.mask[2, 0]  # the gap between rows


def test_plot_spectrum_shows_principal_standard_deviations():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(2000, 3, generator=g, dtype=torch.float64) * torch.tensor(
        [3.0, 1.0, 0.1], dtype=torch.float64
    )
    ax = plots.plot_spectrum(f)
    values = ax.get_lines()[0].get_ydata()
    torch.testing.assert_close(
        torch.tensor(values),
        torch.tensor([3.0, 1.0, 0.1], dtype=torch.float64),
        rtol=0.05,
        atol=0,
    )  # sample standard deviations of 2000 draws: within 5 %


def test_gaussian_ellipse_spans_k_standard_deviations():
    ax = plots.plot_gaussian_ellipse(
        torch.zeros(2), torch.diag(torch.tensor([4.0, 1.0])), k=2.0, points=400
    )
    x, y = ax.lines[-1].get_data()
    assert max(x) == pytest.approx(4.0, abs=1e-3)
    assert min(x) == pytest.approx(-4.0, abs=1e-3)
    assert max(y) == pytest.approx(2.0, abs=1e-3)
    with pytest.raises(ValueError, match="positive-definite"):
        plots.plot_gaussian_ellipse(torch.zeros(2), -torch.eye(2))
    plt.close("all")


def test_plot_layer_accuracies_draws_each_curve_its_best_layer_and_the_cut():
    curves = {
        "A": {"input": 0.5, "bb1": 0.7, "bb2": 0.8, "out": 0.6},
        "B": {"input": 0.5, "bb1": 0.9, "bb2": 0.6, "out": 0.4},
    }
    ax = plots.plot_layer_accuracies(
        curves, baseline=0.5, cut_after="bb2", labels={"out": "output"}
    )
    lines = ax.get_lines()
    # Per curve: the line and its star; then the baseline and the cut.
    assert len(lines) == 2 * 2 + 2
    assert list(lines[0].get_ydata()) == [0.7, 0.8, 0.6]  # "input" left out
    assert (lines[1].get_xdata()[0], lines[1].get_ydata()[0]) == (1, 0.8)  # A: bb2
    assert (lines[3].get_xdata()[0], lines[3].get_ydata()[0]) == (0, 0.9)  # B: bb1
    assert list(lines[5].get_xdata()) == [1.5, 1.5]  # between bb2 and out
    assert [t.get_text() for t in ax.get_xticklabels()] == ["bb1", "bb2", "output"]
    assert lines[0].get_marker() != lines[2].get_marker()
    plain = plots.plot_layer_accuracies(
        curves, layers=["bb2", "out"], mark_best=False, styles={"B": {"color": "red"}}
    )
    assert len(plain.get_lines()) == 2
    assert plain.get_xlabel() == "layer"
    assert plain.get_lines()[1].get_color() == "red"
    assert plain.get_lines()[1].get_linestyle() == "--"  # the rest of B's default


def test_plot_layer_accuracies_rejects_missing_layers():
    with pytest.raises(ValueError, match="curves"):
        plots.plot_layer_accuracies({})
    with pytest.raises(ValueError, match="'B' has no accuracy"):
        plots.plot_layer_accuracies({"A": {"bb1": 0.5}, "B": {"out": 0.5}})
    with pytest.raises(ValueError, match="cut_after"):
        plots.plot_layer_accuracies({"A": {"bb1": 0.5}}, cut_after="bb2")


def test_plot_layer_heatmap_writes_every_value_readably():
    acc = torch.tensor([[0.3, 0.9], [0.5, 0.95], [0.25, 0.6]])  # (layers, settings)
    ax = plots.plot_layer_heatmap(
        acc, ["bb1", "bb2", "out"], ["0", "1"], vmin=0.25, vmax=0.95
    )
    texts = {(t.get_position(), t.get_text()): t.get_color() for t in ax.texts}
    assert len(texts) == 6
    assert texts[((0, 2), "0.25")] == "white"  # the darkest viridis cell
    assert texts[((1, 1), "0.95")] == "black"  # the lightest
    assert ax.images[-1].get_clim() == (0.25, 0.95)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["bb1", "bb2", "out"]
    with pytest.raises(ValueError, match="shape"):
        plots.plot_layer_heatmap(acc, ["bb1"], ["0", "1"])
