// A real JavaScript client of the CustomerData API, run by Node 20 (global fetch, FormData, Blob,
// File; no npm packages).
//
// The functions below transcribe ../shared/spec/customer-data-api.md: its `fetch` examples and the
// calls of its React `useCustomerData` hook and `CustomerDataForm` component, as plain async
// functions. URLs, headers and bodies are the document's; only the base URL is absolute, the token
// is a parameter instead of `localStorage.getItem('token')`, and the document's literal ids
// (customer 1, entry 3) are parameters.
//
//   BASE_URL=http://127.0.0.1:8000 TOKEN=<access token> CUSTOMER_ID=1 node customer_data_client.mjs
//
// runs the whole scenario and prints one JSON object: {base_url, customer_id, steps, downloads}.
// Every step has the status and body of the response it got; hook steps also show what the hook
// function returned or threw.

import { pathToFileURL } from 'node:url';

// Files the scenario uploads: a JPEG header followed by every byte value, and a small PDF.
export function idCardBytes() {
  const bytes = new Uint8Array(4 + 256);
  bytes.set([0xff, 0xd8, 0xff, 0xe0], 0);
  for (let i = 0; i < 256; i++) bytes[4 + i] = i;
  return bytes;
}

export function pdfBytes(label) {
  return new TextEncoder().encode(`%PDF-1.4\n% ${label}\n%%EOF\n`);
}

// ---------------------------------------------------------------------------------------------
// The document's `fetch` examples (sections 1-7). Each returns the Response, as `const response =
// await fetch(...)` does in the document.

// 1. List All Customer Data
export async function listCustomerData(baseUrl, token, customerId, search) {
  const response = await fetch(`${baseUrl}/api/message/customer-data/?customer=${customerId}&search=${encodeURIComponent(search)}`, {
    headers: {
      'Authorization': `Bearer ${token}`
    }
  });
  return response;
}

// 2. Create Customer Data: text data (JSON)
export async function createTextData(baseUrl, token, { customer, key = 'birthday', value = '1990-05-15' }) {
  const response = await fetch(`${baseUrl}/api/message/customer-data/`, {
    method: 'POST',
    headers: {
      'Authorization': `Bearer ${token}`,
      'Content-Type': 'application/json'
    },
    body: JSON.stringify({
      customer: customer,
      key: key,
      value: value
    })
  });
  return response;
}

// 2. Create Customer Data: with file upload (FormData); `file` stands for fileInput.files[0]
export async function createFileData(baseUrl, token, { customer, key = 'id_card', value = 'National ID Card', file }) {
  const formData = new FormData();
  formData.append('customer', customer);  // a number, as in the document (FormData makes it a string)
  formData.append('key', key);
  formData.append('value', value);
  formData.append('file', file);  // From <input type="file">

  const response = await fetch(`${baseUrl}/api/message/customer-data/`, {
    method: 'POST',
    headers: {
      'Authorization': `Bearer ${token}`
      // Don't set Content-Type - fetch sets it with boundary
    },
    body: formData
  });
  return response;
}

// 3. Get Single Customer Data
export async function getCustomerData(baseUrl, token, id) {
  const response = await fetch(`${baseUrl}/api/message/customer-data/${id}/`, {
    headers: {
      'Authorization': `Bearer ${token}`
    }
  });
  return response;
}

// 4. Update Customer Data: update text value (JSON)
export async function updateTextValue(baseUrl, token, id, value = 'Updated national ID information') {
  const response = await fetch(`${baseUrl}/api/message/customer-data/${id}/`, {
    method: 'PUT',
    headers: {
      'Authorization': `Bearer ${token}`,
      'Content-Type': 'application/json'
    },
    body: JSON.stringify({
      value: value
    })
  });
  return response;
}

// 4. Update Customer Data: replace file (FormData); `file` stands for newFileInput.files[0]
export async function replaceFile(baseUrl, token, id, file) {
  const formData = new FormData();
  formData.append('file', file);

  const response = await fetch(`${baseUrl}/api/message/customer-data/${id}/`, {
    method: 'PUT',
    headers: {
      'Authorization': `Bearer ${token}`
    },
    body: formData
  });
  return response;
}

// 4. Update Customer Data: remove file only (JSON)
export async function removeFile(baseUrl, token, id) {
  const response = await fetch(`${baseUrl}/api/message/customer-data/${id}/`, {
    method: 'PUT',
    headers: {
      'Authorization': `Bearer ${token}`,
      'Content-Type': 'application/json'
    },
    body: JSON.stringify({
      remove_file: true
    })
  });
  return response;
}

// 5. Delete Customer Data
export async function deleteCustomerData(baseUrl, token, id) {
  const response = await fetch(`${baseUrl}/api/message/customer-data/${id}/`, {
    method: 'DELETE',
    headers: {
      'Authorization': `Bearer ${token}`
    }
  });
  return response;
}

// 6. Get All Data for a Specific Customer
export async function listForCustomer(baseUrl, token, customerId) {
  const response = await fetch(`${baseUrl}/api/message/customer/${customerId}/data/`, {
    headers: {
      'Authorization': `Bearer ${token}`
    }
  });
  return response;
}

// 7. Bulk Delete Customer Data
export async function bulkDelete(baseUrl, token, dataIds) {
  const response = await fetch(`${baseUrl}/api/message/customer-data/bulk-delete/`, {
    method: 'POST',
    headers: {
      'Authorization': `Bearer ${token}`,
      'Content-Type': 'application/json'
    },
    body: JSON.stringify({
      data_ids: dataIds
    })
  });
  return response;
}

// ---------------------------------------------------------------------------------------------
// The calls of the document's `useCustomerData(customerId)` hook, without React: the same
// requests, with the state updates (setData, setLoading) left out and fetchData returning what it
// would store.

export async function fetchData(baseUrl, token, customerId) {
  const response = await fetch(
    `${baseUrl}/api/message/customer/${customerId}/data/`,
    {
      headers: {
        Authorization: `Bearer ${token}`,
      },
    }
  );
  const result = await response.json();
  return result;
}

export async function createData(baseUrl, token, customerId, key, value, file) {
  const formData = new FormData();
  formData.append('customer', String(customerId));
  formData.append('key', key);
  if (value) formData.append('value', value);
  if (file) formData.append('file', file);

  const response = await fetch(`${baseUrl}/api/message/customer-data/`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`,
    },
    body: formData,
  });

  if (!response.ok) {
    const error = await response.json();
    throw new Error(error.key?.[0] || 'Failed to create');
  }

  const newData = await response.json();
  return newData;
}

export async function updateData(baseUrl, token, id, updates) {
  const formData = new FormData();
  if (updates.key) formData.append('key', updates.key);
  if (updates.value !== undefined) formData.append('value', updates.value);
  if (updates.file) formData.append('file', updates.file);
  if (updates.remove_file) formData.append('remove_file', 'true');

  const response = await fetch(`${baseUrl}/api/message/customer-data/${id}/`, {
    method: 'PUT',
    headers: {
      Authorization: `Bearer ${token}`,
    },
    body: formData,
  });

  const updatedData = await response.json();
  return updatedData;
}

export async function deleteData(baseUrl, token, id) {
  await fetch(`${baseUrl}/api/message/customer-data/${id}/`, {
    method: 'DELETE',
    headers: {
      Authorization: `Bearer ${token}`,
    },
  });
}

// The request of the document's `CustomerDataForm` (handleSubmit), with its error handling.
export async function submitCustomerDataForm(baseUrl, token, customerId, key, value, file) {
  const formData = new FormData();
  formData.append('customer', String(customerId));
  formData.append('key', key);
  if (value) formData.append('value', value);
  if (file) formData.append('file', file);

  const response = await fetch(`${baseUrl}/api/message/customer-data/`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`,
    },
    body: formData,
  });

  if (!response.ok) {
    const data = await response.json();
    throw new Error(data.key?.[0] || data.non_field_errors?.[0] || 'Error');
  }
}

// ---------------------------------------------------------------------------------------------
// The scenario.

async function bodyOf(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { non_json_body: text };
  }
}

function exchange(response, body) {
  return {
    status: response.status,
    content_type: response.headers.get('content-type'),
    body,
  };
}

// Records every exchange the global fetch makes, so that hook functions, which consume their
// responses, still report status and body. The Response handed back is untouched.
function recordingFetch(original, log) {
  return async (input, init = {}) => {
    const response = await original(input, init);
    const text = await response.clone().text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = { non_json_body: text.slice(0, 2000) };
    }
    log.push({ method: init.method || 'GET', url: String(input), ...exchange(response, body) });
    return response;
  };
}

async function download(url, withRecorderOff) {
  // file_url is followed without any Authorization header, as a browser's <a href> would.
  const response = await withRecorderOff(() => fetch(url));
  const bytes = new Uint8Array(await response.arrayBuffer());
  return {
    url,
    status: response.status,
    content_type: response.headers.get('content-type'),
    content_disposition: response.headers.get('content-disposition'),
    x_content_type_options: response.headers.get('x-content-type-options'),
    length: bytes.length,
    base64: Buffer.from(bytes).toString('base64'),
  };
}

export async function runScenario(baseUrl, token, customerId) {
  const steps = {};
  const downloads = {};
  const log = [];
  const original = globalThis.fetch;
  let recording = true;
  globalThis.fetch = async (input, init) => (recording ? recordingFetch(original, log)(input, init) : original(input, init));
  const withRecorderOff = async (fn) => {
    recording = false;
    try {
      return await fn();
    } finally {
      recording = true;
    }
  };

  // a document example: the response as returned
  const doc = async (name, call) => {
    const response = await call();
    steps[name] = exchange(response, await bodyOf(response));
    return steps[name].body;
  };
  // a hook call: what the function returned or threw, with the exchange(s) it made
  const hook = async (name, call) => {
    const before = log.length;
    const step = {};
    try {
      const returned = await call();
      step.returned = returned === undefined ? null : returned;
    } catch (error) {
      step.error = error instanceof Error ? error.message : String(error);
    }
    const made = log.slice(before);
    step.requests = made.length;
    if (made.length) Object.assign(step, made[made.length - 1]);
    steps[name] = step;
    return step;
  };

  try {
    const uploadedIdCard = idCardBytes();
    const replacementPdf = pdfBytes('replacement');
    const contractPdf = pdfBytes('contract 2024');
    const contractV2Pdf = pdfBytes('contract 2024 v2');
    const passportPng = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);

    // §2 create (JSON), then the same key again
    const birthday = await doc('create_json', () => createTextData(baseUrl, token, { customer: customerId }));
    await doc('create_json_duplicate', () => createTextData(baseUrl, token, { customer: customerId }));
    const companyEmail = await doc('create_json_company_email', () => createTextData(baseUrl, token, {
      customer: customerId, key: 'company_email', value: 'contact@company.com',
    }));

    // §2 create with a file (FormData)
    const idCardFile = new File([uploadedIdCard], 'id_card.jpg', { type: 'image/jpeg' });
    const idCard = await doc('create_form_file', () => createFileData(baseUrl, token, { customer: customerId, file: idCardFile }));

    // §1 list with ?customer=&search=
    await doc('list_filtered', () => listCustomerData(baseUrl, token, customerId, 'email'));

    // §3 get one
    await doc('get_one', () => getCustomerData(baseUrl, token, idCard.id));
    downloads.created = await download(idCard.file_url, withRecorderOff);

    // §4 update the value (JSON), replace the file (FormData), remove the file (JSON)
    await doc('update_json', () => updateTextValue(baseUrl, token, idCard.id));
    const replacement = new File([replacementPdf], 'قرارداد 2024.pdf', { type: 'application/pdf' });
    const replaced = await doc('replace_file', () => replaceFile(baseUrl, token, idCard.id, replacement));
    downloads.replaced = await download(replaced.file_url, withRecorderOff);
    downloads.created_after_replace = await download(idCard.file_url, withRecorderOff);
    await doc('remove_file', () => removeFile(baseUrl, token, idCard.id));
    downloads.replaced_after_remove = await download(replaced.file_url, withRecorderOff);

    // §5 delete, then the deleted entry
    await doc('delete', () => deleteCustomerData(baseUrl, token, idCard.id));
    await doc('get_deleted', () => getCustomerData(baseUrl, token, idCard.id));

    // §6 all data of the customer
    await doc('list_by_customer', () => listForCustomer(baseUrl, token, customerId));

    // the useCustomerData hook's calls
    const notes = await hook('hook_createData_text', () => createData(baseUrl, token, customerId, 'notes', 'Prefers email contact'));
    const contractFile = new File([contractPdf], 'contract.pdf', { type: 'application/pdf' });
    const contract = await hook('hook_createData_file', () => createData(baseUrl, token, customerId, 'contract', 'Signed contract for 2024', contractFile));
    const passportFile = new File([passportPng], 'passport.png', { type: 'image/png' });
    const passport = await hook('hook_createData_file_only', () => createData(baseUrl, token, customerId, 'passport_scan', undefined, passportFile));
    await hook('hook_createData_duplicate', () => createData(baseUrl, token, customerId, 'notes', 'Another note'));
    await hook('hook_fetchData', () => fetchData(baseUrl, token, customerId));
    await hook('hook_updateData_value', () => updateData(baseUrl, token, notes.returned.id, { value: 'Prefers phone calls' }));
    await hook('hook_updateData_key', () => updateData(baseUrl, token, notes.returned.id, { key: 'contact_notes' }));
    const contractV2 = new File([contractV2Pdf], 'contract_v2.pdf', { type: 'application/pdf' });
    const contractUpdated = await hook('hook_updateData_file', () => updateData(baseUrl, token, contract.returned.id, { file: contractV2 }));
    downloads.hook_file = await download(contractUpdated.returned.file_url, withRecorderOff);
    await hook('hook_updateData_remove_file', () => updateData(baseUrl, token, contract.returned.id, { remove_file: true }));
    await hook('hook_updateData_remove_only_file', () => updateData(baseUrl, token, passport.returned.id, { remove_file: true }));
    await hook('hook_deleteData', () => deleteData(baseUrl, token, notes.returned.id));

    // the CustomerDataForm component's submit
    await hook('form_submit', () => submitCustomerDataForm(baseUrl, token, customerId, 'company', 'ACME Inc.'));
    await hook('form_submit_duplicate', () => submitCustomerDataForm(baseUrl, token, customerId, 'company', 'ACME Ltd.'));

    // §7 bulk delete what is left (and the id deleted above, which is skipped)
    const left = await fetchData(baseUrl, token, customerId);
    const ids = [...left.map((entry) => entry.id), notes.returned.id];
    steps.bulk_delete_ids = ids;
    await doc('bulk_delete', () => bulkDelete(baseUrl, token, ids));
    await hook('hook_fetchData_after_bulk_delete', () => fetchData(baseUrl, token, customerId));

    return {
      base_url: baseUrl,
      customer_id: customerId,
      uploads: {
        id_card: Buffer.from(uploadedIdCard).toString('base64'),
        replacement: Buffer.from(replacementPdf).toString('base64'),
        contract_v2: Buffer.from(contractV2Pdf).toString('base64'),
      },
      ids: { birthday: birthday.id, company_email: companyEmail.id, id_card: idCard.id },
      steps,
      downloads,
    };
  } finally {
    globalThis.fetch = original;
  }
}

async function main() {
  const { BASE_URL, TOKEN, CUSTOMER_ID } = process.env;
  if (!BASE_URL || !TOKEN || !CUSTOMER_ID) {
    console.error('BASE_URL, TOKEN and CUSTOMER_ID must be set');
    process.exit(2);
  }
  const result = await runScenario(BASE_URL.replace(/\/+$/, ''), TOKEN, Number(CUSTOMER_ID));
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    console.error(error && error.stack ? error.stack : String(error));
    process.exit(1);
  });
}
