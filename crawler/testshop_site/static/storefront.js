// The storefront's infinite scroll: more cards from /products.json as the sentinel below
// the grid comes into view, in pages of the grid's data-page-size.
let page = 1, loading = false, done = false;
const grid = document.getElementById('products');
const pageSize = Number(grid.dataset.pageSize);

function card(item) {
  const div = document.createElement('div');
  div.className = 'product-card';
  div.dataset.id = item.id;
  div.innerHTML = `<a href="/p/${item.id}"><img src="${item.images[0].src}" loading="lazy" width="240" height="320"
    alt="${item.title}"></a><span>${item.title}</span>`;
  return div;
}

async function more() {
  if (loading || done) return;
  loading = true;
  const response = await fetch(`/products.json?page=${page + 1}&limit=${pageSize}`);
  const items = (await response.json()).products.filter((item) => !document.querySelector(`[data-id="${item.id}"]`));
  if (!items.length) done = true;
  items.forEach((item) => grid.appendChild(card(item)));
  page += 1;
  document.body.dataset.pages = String(page);
  loading = false;
  check();  // still in view after this page (a tall window): go on
}

// the observer may not fire again while the sentinel stays in view, so scrolling checks too
const sentinel = document.getElementById('more');
function check() { if (sentinel.getBoundingClientRect().top < innerHeight) more(); }
new IntersectionObserver((entries) => { if (entries[0].isIntersecting) more(); }).observe(sentinel);
addEventListener('scroll', check, { passive: true });
