# ''' gives two single quotes.
[ ''''''' ''a ''' b'' ''it's'' ''x''''' ]
