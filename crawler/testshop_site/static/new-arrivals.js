// New arrivals: the products appear only after this script runs, as on a JavaScript-built
// shop page; each card brings its schema.org Product JSON-LD into the head.
fetch('/api/new-arrivals.json').then((r) => r.json()).then((items) => {
  const list = document.getElementById('arrivals');
  for (const item of items) {
    const card = document.createElement('div');
    card.className = 'product-card';
    card.innerHTML = `<img src="${item.image}" width="120" height="160"><span>${item.name}</span>`;
    list.appendChild(card);
    const data = document.createElement('script');
    data.type = 'application/ld+json';
    data.textContent = JSON.stringify(item);
    document.head.appendChild(data);
  }
  document.body.dataset.loaded = 'true';
});
