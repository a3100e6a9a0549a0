# Text right after the opening quotes is part of the first line; its
# indentation counts from the quotes.
[ ''  two spaces
  next line'' ''abc'' ''x
    y
  z'' ]
