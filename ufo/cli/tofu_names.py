"""`ufo reco`'s command class: it keeps the command line as given (`--on-server` forwards it),
and answers an option of tofu's `tofu tomo` that it does not have with what to write here.

Why: `ufo reco` re-creates `tofu tomo`, and a tofu command line is what a KIT beamline scientist
types. Most of its options have the same name and meaning here (--projections, --darks, --flats,
--flats2, --output, --number, --angle, --offset, --energy, --pixel-size, --method, --dry-run);
those that are named or counted differently get one line saying how (exit status 2, as any
unknown option). tofu's --axis counts from the detector's edge (UFO's backproject), ufo's from
the first pixel's centre: the same axis is tofu's value minus 0.5 (docs/conventions.md).
"""

from __future__ import annotations

import click

AXIS = "--axis X-0.5 (ufo counts the axis from the first pixel's centre, tofu from the detector's edge)"
REGION = "--region Y:Y+HEIGHT:STEP (the detector rows, from:to:step)"
SELECT = "--number N takes the first N projections; other selections: `ufo run \"read start=S step=K ...\"`"
FINISHED = "ufo reco reads a finished scan; slices during a scan come from the experiment's OnlineReconstruction " \
           "addon (docs/control.md)"


def _scale(what: str, letter: str) -> str:
    return (f"nothing: scale the {what} first (`ufo run \"read path={letter} ! calculate expression='v*S' ! write "
            f"path={letter}2\"`)")


TOFU = {
    "--center-position-x": AXIS,
    "--output-bitdepth": "--output-bits 8|16|32",
    "--output-minimum": "--output-min",
    "--output-maximum": "--output-max",
    "--output-rescale": "--output-bits 8|16 scales always: by --output-min/--output-max, else by a range found "
                        "from the volume",
    "--output-bytes-per-file": "--output slices.tif (one stack; BigTIFF past 4 GB) or slices.h5:/data; "
                               "`ufo run ... ! write bytes-per-file=N` splits stacks",
    "--absorptivity": "--absorption (on by default when flats are given)",
    "--fix-nan-and-inf": "nothing: dead pixels (flat <= dark) are filled from the good pixels beside them in "
                         "their rows and starved ones (no counts above the dark) get less than one count of their flat here",
    "--reduction-mode": "nothing: darks are averaged and flats median-combined here (tofu's default, average, "
                        "averages both; its median takes the median of both)",
    "--dark-scale": _scale("darks", "D"),
    "--flat-scale": _scale("flats", "F"),
    **dict.fromkeys(("--y", "--height", "--y-step"), REGION),
    **dict.fromkeys(("--start", "--step"), SELECT),
    "--resize": "bin the projections first: `ufo run \"read path=P ! bin size=N ! write path=P2\"`",
    "--projection-filter": "--filter (ramp, shepp-logan, cosine, hamming, hann, parzen, butterworth, none; tofu's "
                           "ramp-fromreal is --filter ramp)",
    "--projection-filter-cutoff": "--filter-cutoff 2*C (tofu's cutoff is in cycles per pixel, 0.5 = Nyquist; "
                                  "ufo's a fraction of Nyquist: tofu's 0.5 is --filter-cutoff 1)",
    "--propagation-distance": "--distance",
    "--retrieval-method": "--energy, --distance and --pixel-size run Paganin's method, with --delta-beta",
    "--regularization-rate": "--delta-beta 10**R (tofu's R is log10 of delta/beta: --regularization-rate 2 is "
                             "--delta-beta 100)",
    "--frequency-cutoff": "nothing: ufo's Paganin filter has no frequency cutoff (--filter-cutoff is the FBP "
                          "filter's)",
    **dict.fromkeys(("--x-region", "--y-region", "--crop-width"),
                    "--roi X,Y,WIDTH,HEIGHT (the slice's region in pixels; tofu's from,to,step regions: "
                    "X=from, WIDTH=to-from; --region for the detector rows)"),
    "--overall-angle": "--angle STEP (the overall angle / the projections: --angle 0.1deg for 180 deg of 1800)",
    **dict.fromkeys(("--retries", "--retry-timeout"), FINISHED),
    "--remotes": "--cluster ADDRESS (a Dask scheduler) or --gpus",
    "--slices-per-device": "nothing: passes are sized by the memory available (--pass-height to set them)",
    "--verbose": "nothing: the plan and a summary are printed by default (--quiet for neither)",
}


def tofu_hint(option: str) -> str | None:
    """What to write here for tofu's option `option` ('--y'), or None when it is not tofu's."""
    return TOFU.get(option.split("=", 1)[0])


class RecoCommand(click.Command):
    """The command line as given (`--on-server` sends it to the server as it is); tofu's options
    answered with their ufo spelling."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["ufo.argv"] = list(args)
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as err:
            hint = tofu_hint(err.option_name)
            if hint is None:
                raise
            raise click.UsageError(f"{err.option_name} is tofu's option; here: {hint}", ctx) from err
