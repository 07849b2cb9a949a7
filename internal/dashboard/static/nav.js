// navigate lets a page move to another without importing the router (which
// imports the pages).

let go = (url) => location.assign(url);

export function setRouter(fn) {
  go = fn;
}

// navigate shows url's page, adding it to the history unless replace.
export function navigate(url, replace = false) {
  go(url, replace);
}
