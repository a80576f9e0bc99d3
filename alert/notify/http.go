package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// post sends one request and reads the answer: nil for a 2xx, an *Error
// for any other status, the transport's error (retried) when there is no
// answer. shown is the URL as errors may show it: the Bot API's URL holds
// the bot's token, which must not reach a log.
func post(ctx context.Context, client *http.Client, target, shown string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return &Error{Permanent: true, Detail: fmt.Sprintf("build request for %s: %v", shown, err)}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = shown
		}
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return answerError(resp, answer, time.Now())
}
