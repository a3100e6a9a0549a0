# corpus: json
{
  a.b.c = 1;
  a.d = 2;
  a.b.e = 3;
  x.y = { z = 4; };
  x.w = 5;
}
