# ''\ escapes: ''\n newline, ''\t tab, ''\r, ''\\ , any other char is itself.
[ ''a''\nb'' ''a''\tb'' ''a''\rb'' ''a''\\b'' ''a''\xb'' ''a\nb'' ]
