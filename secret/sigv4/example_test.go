package sigv4_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"bottle.dev/bottle/secret/sigv4"
)

// The proxy finds the credential by the key id the agent signed with, then
// re-signs; an error becomes a 403 that says why.
func ExampleResign() {
	placeholder := sigv4.Credentials{AccessKeyID: "BOTTLEEXAMPLE0000000", SecretAccessKey: "bottle-secret-aws-example"}
	keys := sigv4.Credentials{AccessKeyID: "EXAMPLEKEYID00000000", SecretAccessKey: "example-real-secret"}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

	// The agent signs with the placeholder keys, as the AWS CLI would.
	r, _ := http.NewRequest("GET", "https://sts.sim.test/?Action=GetCallerIdentity&Version=2011-06-15", nil)
	agent := aws.Credentials{AccessKeyID: placeholder.AccessKeyID, SecretAccessKey: placeholder.SecretAccessKey}
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	v4.NewSigner().SignHTTP(context.Background(), agent, r, emptySHA256, "sts", "us-east-1", at)

	// The proxy.
	if id, ok := sigv4.KeyID(r); ok && id == placeholder.AccessKeyID {
		err := sigv4.Resign(r, placeholder, keys, at.Add(time.Minute))
		fmt.Println("re-signed:", err == nil)
	}
	err := sigv4.Resign(r, placeholder, keys, at.Add(time.Minute))
	fmt.Println("again:", errors.Is(err, sigv4.ErrWrongKey))
	// Output:
	// re-signed: true
	// again: true
}
