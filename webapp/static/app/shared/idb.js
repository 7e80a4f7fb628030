// One IndexedDB database for what the app keeps in this browser: fine-tuned models and the upload outbox.
// No DOM and no tfjs: the page and the engine worker both use it.

const DB_NAME = "edgeship";
const DB_VERSION = 1;
// finetuned: what a list shows (small); finetunedData: topology, weights and samples, read only on use.
export const STORES = { finetuned: "finetuned", finetunedData: "finetuned-data", outbox: "outbox" };

let opening = null;

export function openDb() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        for (const name of [STORES.finetuned, STORES.finetunedData]) {
          if (!db.objectStoreNames.contains(name)) db.createObjectStore(name, { keyPath: "key" });
        }
        if (!db.objectStoreNames.contains(STORES.outbox)) {
          db.createObjectStore(STORES.outbox, { keyPath: "id" });
        }
      };
      request.onsuccess = () => {
        const db = request.result;
        // Another tab upgrading the schema: let it, and reopen next time.
        db.onversionchange = () => {
          db.close();
          opening = null;
        };
        resolve(db);
      };
      request.onerror = () => {
        opening = null;
        reject(request.error);
      };
    });
  }
  return opening;
}

const QUOTA = "QuotaExceededError";

/** A readable message for storage errors (the quota above all); a full quota keeps its name. */
export function storageError(error, what) {
  if (isQuotaError(error)) {
    const readable = new Error(
      `not enough storage space in this browser to ${what}: delete saved models you no longer need, ` +
        "or free space on the device, and try again",
    );
    readable.name = QUOTA;
    return readable;
  }
  return error instanceof Error ? error : new Error(String(error));
}

export const isQuotaError = (error) => Boolean(error) && error.name === QUOTA;

/**
 * Runs `work(stores)` ({name: IDBObjectStore}) in one transaction; resolves with the result of the
 * request `work` returns (or undefined) once the transaction has committed.
 */
export async function transact(names, mode, work, what = "save data") {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    let result;
    try {
      const tx = db.transaction(names, mode);
      tx.oncomplete = () => resolve(result);
      tx.onabort = () => reject(storageError(tx.error, what));
      const stores = Object.fromEntries(names.map((name) => [name, tx.objectStore(name)]));
      const request = work(stores);
      if (request) request.onsuccess = () => (result = request.result);
    } catch (error) {
      reject(storageError(error, what));
    }
  });
}
