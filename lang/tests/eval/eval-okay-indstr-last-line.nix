# The final line (spaces before the closing quotes) is dropped, but the
# newline before it is kept; without a final newline there is none.
[ ''
    a
    '' ''
    a'' ''
    a
'' ]
