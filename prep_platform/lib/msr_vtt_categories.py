"""The 20 MSR-VTT video categories (the dataset's category.txt): the labeller's hints, the annotation's names, the
sample release's file. A module of its own: the scenarios, the labellers and the sample read it without the
annotation format or the downloader."""

# id -> name, from the dataset's category.txt.
CATEGORY_NAMES: dict[int, str] = {
    0: "music",
    1: "people",
    2: "gaming",
    3: "sports/actions",
    4: "news/events/politics",
    5: "education",
    6: "tv shows",
    7: "movie/comedy",
    8: "animation",
    9: "vehicles/autos",
    10: "howto",
    11: "travel",
    12: "science/technology",
    13: "animals/pets",
    14: "kids/family",
    15: "documentary",
    16: "food/drink",
    17: "cooking",
    18: "beauty/fashion",
    19: "advertisement",
}
CATEGORY_IDS: dict[str, int] = {name: cid for cid, name in CATEGORY_NAMES.items()}


def category_file_text() -> str:
    """The dataset's category.txt: `name<TAB>id` per line."""
    return "".join(f"{name}\t{cid}\n" for cid, name in CATEGORY_NAMES.items())
