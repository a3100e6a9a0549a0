# Tabs are not indentation: only spaces are stripped.
[ ''
  	a
  b
'' ''
		x
		y
'' ''
  	
  z
'' ]
